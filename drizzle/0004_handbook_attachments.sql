CREATE TABLE "handbook_attachment_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"entry_id" uuid NOT NULL,
	"attachment_id" uuid NOT NULL,
	"action" text NOT NULL,
	"filename" text NOT NULL,
	"step" integer,
	"actor_id" text NOT NULL,
	"actor_label" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "handbook_attachment_events_action_check" CHECK ("handbook_attachment_events"."action" in ('added','removed'))
);
--> statement-breakpoint
CREATE TABLE "handbook_attachments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"entry_id" uuid NOT NULL,
	"step" integer,
	"caption" text DEFAULT '' NOT NULL,
	"filename" text NOT NULL,
	"media_type" text NOT NULL,
	"size" integer NOT NULL,
	"sha256" text NOT NULL,
	"width" integer,
	"height" integer,
	"bytes" "bytea" NOT NULL,
	"thumbnail" "bytea",
	"created_by_id" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "handbook_attachments_type_check" CHECK ("handbook_attachments"."media_type" in ('image/png','image/jpeg','image/webp','application/pdf')),
	CONSTRAINT "handbook_attachments_size_check" CHECK ("handbook_attachments"."size" between 1 and 5242880),
	CONSTRAINT "handbook_attachments_step_check" CHECK ("handbook_attachments"."step" is null or "handbook_attachments"."step" >= 1)
);
--> statement-breakpoint
ALTER TABLE "handbook_attachments" ADD CONSTRAINT "handbook_attachments_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "handbook_attachment_events_entry_idx" ON "handbook_attachment_events" USING btree ("entry_id","at");--> statement-breakpoint
CREATE INDEX "handbook_attachments_entry_idx" ON "handbook_attachments" USING btree ("entry_id");