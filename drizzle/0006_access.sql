CREATE TABLE "access_decisions" (
	"request_id" uuid NOT NULL,
	"approver_id" uuid NOT NULL,
	"requester_id" uuid NOT NULL,
	"decision" text NOT NULL,
	"reason" text NOT NULL,
	"decided_at" timestamp with time zone NOT NULL,
	CONSTRAINT "access_decisions_request_id_approver_id_pk" PRIMARY KEY("request_id","approver_id"),
	CONSTRAINT "access_decisions_not_self_check" CHECK ("access_decisions"."approver_id" <> "access_decisions"."requester_id"),
	CONSTRAINT "access_decisions_decision_check" CHECK ("access_decisions"."decision" in ('approve','deny'))
);
--> statement-breakpoint
CREATE TABLE "access_grants" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"role" text,
	"location_id" uuid,
	"entry_id" uuid,
	"request_id" uuid,
	"granted_by" text NOT NULL,
	"granted_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"revoked_by" text,
	"revoke_reason" text,
	CONSTRAINT "access_grants_kind_check" CHECK (("access_grants"."kind" = 'role' and "access_grants"."role" is not null and "access_grants"."entry_id" is null) or ("access_grants"."kind" = 'reveal' and "access_grants"."entry_id" is not null and "access_grants"."role" is null and "access_grants"."location_id" is null)),
	CONSTRAINT "access_grants_role_check" CHECK ("access_grants"."role" is null or "access_grants"."role" in ('owner','admin','manager','technician','auditor','occupant')),
	CONSTRAINT "access_grants_not_self_check" CHECK ("access_grants"."granted_by" <> "access_grants"."user_id"::text),
	CONSTRAINT "access_grants_expiry_check" CHECK ("access_grants"."expires_at" is null or "access_grants"."expires_at" > "access_grants"."granted_at")
);
--> statement-breakpoint
CREATE TABLE "access_requests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"requester_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"role" text,
	"location_id" uuid,
	"entry_id" uuid,
	"justification" text NOT NULL,
	"duration_hours" integer NOT NULL,
	"required_approvals" integer NOT NULL,
	"state" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"lapses_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	"grant_id" uuid,
	CONSTRAINT "access_requests_kind_check" CHECK (("access_requests"."kind" = 'role' and "access_requests"."role" is not null and "access_requests"."entry_id" is null) or ("access_requests"."kind" = 'reveal' and "access_requests"."entry_id" is not null and "access_requests"."role" is null)),
	CONSTRAINT "access_requests_state_check" CHECK ("access_requests"."state" in ('pending','approved','denied','cancelled')),
	CONSTRAINT "access_requests_duration_check" CHECK ("access_requests"."duration_hours" between 1 and 8760),
	CONSTRAINT "access_requests_approvals_check" CHECK ("access_requests"."required_approvals" between 1 and 3)
);
--> statement-breakpoint
CREATE TABLE "notifications" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"subject" text NOT NULL,
	"link" text,
	"created_at" timestamp with time zone NOT NULL,
	"read_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "locations" ADD COLUMN "document_owner_id" uuid;--> statement-breakpoint
ALTER TABLE "access_decisions" ADD CONSTRAINT "access_decisions_request_id_access_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."access_requests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_decisions" ADD CONSTRAINT "access_decisions_approver_id_users_id_fk" FOREIGN KEY ("approver_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_grants" ADD CONSTRAINT "access_grants_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_grants" ADD CONSTRAINT "access_grants_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_grants" ADD CONSTRAINT "access_grants_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_requests" ADD CONSTRAINT "access_requests_requester_id_users_id_fk" FOREIGN KEY ("requester_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_requests" ADD CONSTRAINT "access_requests_location_id_locations_id_fk" FOREIGN KEY ("location_id") REFERENCES "public"."locations"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_requests" ADD CONSTRAINT "access_requests_entry_id_handbook_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."handbook_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "access_grants_user_idx" ON "access_grants" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "access_grants_location_idx" ON "access_grants" USING btree ("location_id");--> statement-breakpoint
CREATE INDEX "access_requests_requester_idx" ON "access_requests" USING btree ("requester_id");--> statement-breakpoint
CREATE INDEX "access_requests_state_idx" ON "access_requests" USING btree ("state");--> statement-breakpoint
CREATE INDEX "notifications_user_idx" ON "notifications" USING btree ("user_id","created_at");--> statement-breakpoint
ALTER TABLE "locations" ADD CONSTRAINT "locations_document_owner_id_users_id_fk" FOREIGN KEY ("document_owner_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
-- Each account's former organisation-wide role becomes a grant on the whole organisation.
INSERT INTO "access_grants" ("id", "user_id", "kind", "role", "granted_by", "granted_at") SELECT gen_random_uuid(), "id", 'role', "role", 'system:migration', "created_at" FROM "users";--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN "role";