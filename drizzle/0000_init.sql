CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"last_used_at" timestamp with time zone,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "instance_meta" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"revision" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "locations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"parent_id" uuid,
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"reading" text NOT NULL,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"path" text NOT NULL,
	"is_demo" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "locations_kind_check" CHECK ("locations"."kind" in ('organisation','site','building','floor','unit','door')),
	CONSTRAINT "locations_reading_check" CHECK ("locations"."reading" in ('residential','commercial'))
);
--> statement-breakpoint
CREATE TABLE "lock_models" (
	"id" uuid PRIMARY KEY NOT NULL,
	"manufacturer" text NOT NULL,
	"model_number" text NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"family" text NOT NULL,
	"capabilities" jsonb NOT NULL,
	"reset_behaviour" text NOT NULL,
	"gating" jsonb NOT NULL,
	"credential_storage" text NOT NULL,
	"mechanical_override" boolean NOT NULL,
	"is_demo" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "lock_models_family_check" CHECK ("lock_models"."family" in ('electronic_deadbolt','keypad_entry','app_controlled','biometric','safe_cabinet')),
	CONSTRAINT "lock_models_reset_check" CHECK ("lock_models"."reset_behaviour" in ('local_only_keeps_cloud','full_trust_anchor_erase','split'))
);
--> statement-breakpoint
CREATE TABLE "locks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"model_id" uuid NOT NULL,
	"location_id" uuid NOT NULL,
	"serial" text DEFAULT '' NOT NULL,
	"firmware" text DEFAULT '' NOT NULL,
	"installed_on" date,
	"driver" text NOT NULL,
	"external_id" text,
	"credential_storage" text NOT NULL,
	"mechanical_override" boolean NOT NULL,
	"battery_percent" integer,
	"battery_reported_at" timestamp with time zone,
	"service_state" text NOT NULL,
	"retired_at" timestamp with time zone,
	"retired_reason" text,
	"notes" text DEFAULT '' NOT NULL,
	"is_demo" boolean DEFAULT false NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "locks_battery_check" CHECK ("locks"."battery_percent" is null or ("locks"."battery_percent" between 0 and 100)),
	CONSTRAINT "locks_state_check" CHECK ("locks"."service_state" in ('in_service','setup_mode','needs_attention','reset_in_progress','retired'))
);
--> statement-breakpoint
CREATE TABLE "one_time_tokens" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"purpose" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"csrf_token" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sign_in_failures" (
	"key" text PRIMARY KEY NOT NULL,
	"failures" integer NOT NULL,
	"first_at" timestamp with time zone NOT NULL,
	"last_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"display_name" text NOT NULL,
	"role" text NOT NULL,
	"password_hash" text,
	"created_at" timestamp with time zone NOT NULL,
	"disabled_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locations" ADD CONSTRAINT "locations_parent_id_locations_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."locations"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locks" ADD CONSTRAINT "locks_model_id_lock_models_id_fk" FOREIGN KEY ("model_id") REFERENCES "public"."lock_models"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locks" ADD CONSTRAINT "locks_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "one_time_tokens" ADD CONSTRAINT "one_time_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_tokens_hash_idx" ON "api_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "locations_parent_idx" ON "locations" USING btree ("parent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "locations_path_idx" ON "locations" USING btree ("path");--> statement-breakpoint
CREATE UNIQUE INDEX "locations_sibling_name_idx" ON "locations" USING btree (coalesce("parent_id", '00000000-0000-0000-0000-000000000000'::uuid),lower("name"));--> statement-breakpoint
CREATE UNIQUE INDEX "lock_models_identity_idx" ON "lock_models" USING btree (lower("manufacturer"),lower("model_number"));--> statement-breakpoint
CREATE INDEX "locks_location_idx" ON "locks" USING btree ("location_id");--> statement-breakpoint
CREATE INDEX "locks_model_idx" ON "locks" USING btree ("model_id");--> statement-breakpoint
CREATE INDEX "locks_state_idx" ON "locks" USING btree ("service_state");--> statement-breakpoint
CREATE UNIQUE INDEX "locks_driver_external_idx" ON "locks" USING btree ("driver","external_id") WHERE "locks"."external_id" is not null;--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "sessions" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_idx" ON "users" USING btree (lower("email"));