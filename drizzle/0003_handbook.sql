CREATE TABLE "data_keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"scope" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"wrapped_key" text NOT NULL,
	"master_version" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"rotated_at" timestamp with time zone,
	CONSTRAINT "data_keys_scope_unique" UNIQUE("scope")
);
--> statement-breakpoint
CREATE TABLE "handbook_entries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"model_id" uuid NOT NULL,
	"lock_id" uuid,
	"current_revision" integer NOT NULL,
	"title" text NOT NULL,
	"generic" boolean DEFAULT false NOT NULL,
	"search_text" text NOT NULL,
	"model_key" text NOT NULL,
	"verification_window_days" integer DEFAULT 180 NOT NULL,
	"verified_at" timestamp with time zone,
	"verified_by" text,
	"verified_revision" integer,
	"is_demo" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "handbook_entries_window_check" CHECK ("handbook_entries"."verification_window_days" between 1 and 3650)
);
--> statement-breakpoint
CREATE TABLE "handbook_revisions" (
	"entry_id" uuid NOT NULL,
	"revision" integer NOT NULL,
	"content" jsonb NOT NULL,
	"reason" text NOT NULL,
	"author_id" text NOT NULL,
	"author_label" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "handbook_revisions_entry_id_revision_pk" PRIMARY KEY("entry_id","revision")
);
--> statement-breakpoint
CREATE TABLE "handbook_secrets" (
	"id" uuid PRIMARY KEY NOT NULL,
	"entry_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"label" text DEFAULT '' NOT NULL,
	"cipher" text NOT NULL,
	"data_key_id" uuid NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "handbook_secrets_kind_check" CHECK ("handbook_secrets"."kind" in ('master_code','programming_code','installer_code','reset_card_number','other'))
);
--> statement-breakpoint
CREATE TABLE "handbook_verifications" (
	"id" uuid PRIMARY KEY NOT NULL,
	"entry_id" uuid NOT NULL,
	"revision" integer NOT NULL,
	"verified_by_id" text NOT NULL,
	"verified_by" text NOT NULL,
	"verified_at" timestamp with time zone NOT NULL,
	"note" text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "secret_reveals" (
	"id" uuid PRIMARY KEY NOT NULL,
	"secret_id" uuid NOT NULL,
	"entry_id" uuid NOT NULL,
	"secret_kind" text NOT NULL,
	"actor_id" text NOT NULL,
	"actor_label" text NOT NULL,
	"reason" text NOT NULL,
	"revealed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "handbook_entries" ADD CONSTRAINT "handbook_entries_model_id_lock_models_id_fk" FOREIGN KEY ("model_id") REFERENCES "public"."lock_models"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "handbook_entries" ADD CONSTRAINT "handbook_entries_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "handbook_revisions" ADD CONSTRAINT "handbook_revisions_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "handbook_secrets" ADD CONSTRAINT "handbook_secrets_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "handbook_secrets" ADD CONSTRAINT "handbook_secrets_data_key_id_data_keys_id_fk" FOREIGN KEY ("data_key_id") REFERENCES "public"."data_keys"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "handbook_verifications" ADD CONSTRAINT "handbook_verifications_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "handbook_entries_model_idx" ON "handbook_entries" USING btree ("model_id") WHERE "handbook_entries"."lock_id" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "handbook_entries_lock_idx" ON "handbook_entries" USING btree ("lock_id") WHERE "handbook_entries"."lock_id" is not null;--> statement-breakpoint
CREATE INDEX "handbook_entries_search_idx" ON "handbook_entries" USING gin (to_tsvector('simple'::regconfig, "search_text"));--> statement-breakpoint
CREATE INDEX "handbook_entries_model_key_trgm_idx" ON "handbook_entries" USING gin ("model_key" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "handbook_secrets_entry_idx" ON "handbook_secrets" USING btree ("entry_id");--> statement-breakpoint
CREATE INDEX "handbook_verifications_entry_idx" ON "handbook_verifications" USING btree ("entry_id");--> statement-breakpoint
CREATE INDEX "secret_reveals_secret_idx" ON "secret_reveals" USING btree ("secret_id");--> statement-breakpoint
CREATE INDEX "secret_reveals_at_idx" ON "secret_reveals" USING btree ("revealed_at");