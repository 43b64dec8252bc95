CREATE TABLE "notification_endpoints" (
	"id" uuid PRIMARY KEY NOT NULL,
	"location_id" uuid,
	"channel" text NOT NULL,
	"purpose" text NOT NULL,
	"name" text NOT NULL,
	"target" text NOT NULL,
	"secret_sealed" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "notification_endpoints_channel_check" CHECK ("notification_endpoints"."channel" in ('webhook','email')),
	CONSTRAINT "notification_endpoints_purpose_check" CHECK ("notification_endpoints"."purpose" in ('monitoring','occupants'))
);
--> statement-breakpoint
CREATE TABLE "notification_outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"endpoint_id" uuid,
	"channel" text NOT NULL,
	"target" text NOT NULL,
	"topic" text NOT NULL,
	"subject" text NOT NULL,
	"body_sealed" text NOT NULL,
	"location_id" uuid,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone NOT NULL,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "notification_outbox_status_check" CHECK ("notification_outbox"."status" in ('pending','delivered','failed'))
);
--> statement-breakpoint
CREATE TABLE "stay_codes" (
	"stay_id" uuid NOT NULL,
	"lock_id" uuid NOT NULL,
	"credential_id" uuid,
	"error" text,
	"issued_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"alerted_at" timestamp with time zone,
	CONSTRAINT "stay_codes_stay_id_lock_id_pk" PRIMARY KEY("stay_id","lock_id")
);
--> statement-breakpoint
CREATE TABLE "stays" (
	"id" uuid PRIMARY KEY NOT NULL,
	"location_id" uuid NOT NULL,
	"source" text NOT NULL,
	"external_uid" text,
	"guest_name" text NOT NULL,
	"guest_email" text,
	"guest_phone" text,
	"check_in" timestamp with time zone NOT NULL,
	"check_out" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"code_sent_at" timestamp with time zone,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "stays_times_check" CHECK ("stays"."check_out" > "stays"."check_in"),
	CONSTRAINT "stays_status_check" CHECK ("stays"."status" in ('active','cancelled'))
);
--> statement-breakpoint
CREATE TABLE "unit_occupancy" (
	"location_id" uuid PRIMARY KEY NOT NULL,
	"ical_url" text,
	"time_zone" text DEFAULT 'UTC' NOT NULL,
	"check_in_time" text DEFAULT '15:00' NOT NULL,
	"check_out_time" text DEFAULT '11:00' NOT NULL,
	"confirm_lead_minutes" integer DEFAULT 120 NOT NULL,
	"feed_checked_at" timestamp with time zone,
	"feed_error" text,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notification_endpoints" ADD CONSTRAINT "notification_endpoints_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD CONSTRAINT "notification_outbox_endpoint_id_notification_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."notification_endpoints"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD CONSTRAINT "notification_outbox_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stay_codes" ADD CONSTRAINT "stay_codes_stay_id_stays_id_fk" FOREIGN KEY ("stay_id") REFERENCES "public"."stays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stay_codes" ADD CONSTRAINT "stay_codes_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stay_codes" ADD CONSTRAINT "stay_codes_credential_id_credentials_id_fk" FOREIGN KEY ("credential_id") REFERENCES "public"."credentials"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stays" ADD CONSTRAINT "stays_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "unit_occupancy" ADD CONSTRAINT "unit_occupancy_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notification_endpoints_location_idx" ON "notification_endpoints" USING btree ("location_id");--> statement-breakpoint
CREATE INDEX "notification_outbox_due_idx" ON "notification_outbox" USING btree ("next_attempt_at") WHERE "notification_outbox"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "notification_outbox_created_idx" ON "notification_outbox" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "stays_location_idx" ON "stays" USING btree ("location_id","check_in");--> statement-breakpoint
CREATE UNIQUE INDEX "stays_feed_uid_idx" ON "stays" USING btree ("location_id","external_uid") WHERE "stays"."external_uid" is not null;