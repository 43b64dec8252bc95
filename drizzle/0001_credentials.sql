CREATE TABLE "bulk_operation_items" (
	"bulk_id" uuid NOT NULL,
	"lock_id" uuid NOT NULL,
	"credential_id" uuid,
	"target" text,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "bulk_operations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"description" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credentials" (
	"id" uuid PRIMARY KEY NOT NULL,
	"lock_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"slot" integer,
	"controller_id" text,
	"holder" text NOT NULL,
	"code_cipher" text,
	"code_mac" text,
	"schedule" jsonb NOT NULL,
	"status" text NOT NULL,
	"origin" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"confirmed_at" timestamp with time zone,
	"removed_at" timestamp with time zone,
	CONSTRAINT "credentials_kind_check" CHECK ("credentials"."kind" in ('pin','controller')),
	CONSTRAINT "credentials_status_check" CHECK ("credentials"."status" in ('pending','confirmed','failed','removing','removed'))
);
--> statement-breakpoint
CREATE TABLE "lock_observations" (
	"lock_id" uuid PRIMARY KEY NOT NULL,
	"read_at" timestamp with time zone,
	"pins" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"controllers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"digital_keys" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"biometrics" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"status" jsonb,
	"in_doubt" boolean DEFAULT false NOT NULL,
	"last_error" text,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bulk_operation_items" ADD CONSTRAINT "bulk_operation_items_bulk_id_bulk_operations_id_fk" FOREIGN KEY ("bulk_id") REFERENCES "public"."bulk_operations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bulk_operation_items" ADD CONSTRAINT "bulk_operation_items_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bulk_operation_items" ADD CONSTRAINT "bulk_operation_items_credential_id_credentials_id_fk" FOREIGN KEY ("credential_id") REFERENCES "public"."credentials"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credentials" ADD CONSTRAINT "credentials_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lock_observations" ADD CONSTRAINT "lock_observations_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "bulk_items_bulk_idx" ON "bulk_operation_items" USING btree ("bulk_id");--> statement-breakpoint
CREATE INDEX "bulk_items_credential_idx" ON "bulk_operation_items" USING btree ("credential_id");--> statement-breakpoint
CREATE INDEX "credentials_lock_idx" ON "credentials" USING btree ("lock_id");--> statement-breakpoint
CREATE UNIQUE INDEX "credentials_live_slot_idx" ON "credentials" USING btree ("lock_id","slot") WHERE "credentials"."status" <> 'removed' and "credentials"."kind" = 'pin';