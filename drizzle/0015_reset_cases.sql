CREATE TABLE "reset_case_steps" (
	"case_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"idempotency_key" text NOT NULL,
	"phase" text NOT NULL,
	"command" text NOT NULL,
	"request" jsonb NOT NULL,
	"events" jsonb NOT NULL,
	"state_before" text NOT NULL,
	"state_after" text NOT NULL,
	"actor_id" text NOT NULL,
	"actor_label" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "reset_case_steps_case_id_seq_pk" PRIMARY KEY("case_id","seq"),
	CONSTRAINT "reset_case_steps_phase_check" CHECK ("reset_case_steps"."phase" in ('intent','done'))
);
--> statement-breakpoint
CREATE TABLE "reset_cases" (
	"id" uuid PRIMARY KEY NOT NULL,
	"lock_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"state" text NOT NULL,
	"data" jsonb NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"opened_by" text NOT NULL,
	"opened_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"record" text,
	"record_signature" text,
	"record_key_id" text
);
--> statement-breakpoint
CREATE TABLE "reset_snapshots" (
	"case_id" uuid PRIMARY KEY NOT NULL,
	"data_key_id" uuid NOT NULL,
	"cipher" text NOT NULL,
	"items" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "reset_case_steps" ADD CONSTRAINT "reset_case_steps_case_id_reset_cases_id_fk" FOREIGN KEY ("case_id") REFERENCES "public"."reset_cases"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reset_cases" ADD CONSTRAINT "reset_cases_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reset_snapshots" ADD CONSTRAINT "reset_snapshots_case_id_reset_cases_id_fk" FOREIGN KEY ("case_id") REFERENCES "public"."reset_cases"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reset_snapshots" ADD CONSTRAINT "reset_snapshots_data_key_id_data_keys_id_fk" FOREIGN KEY ("data_key_id") REFERENCES "public"."data_keys"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "reset_case_steps_key_idx" ON "reset_case_steps" USING btree ("case_id","idempotency_key","phase");--> statement-breakpoint
CREATE INDEX "reset_cases_lock_idx" ON "reset_cases" USING btree ("lock_id");--> statement-breakpoint
CREATE INDEX "reset_cases_state_idx" ON "reset_cases" USING btree ("state");--> statement-breakpoint
CREATE UNIQUE INDEX "reset_cases_one_open_idx" ON "reset_cases" USING btree ("lock_id") WHERE "reset_cases"."state" not in ('closed','cancelled');--> statement-breakpoint
-- Hand-written: a case's step log and its snapshot are append-only, like the audit log.
CREATE TRIGGER "reset_case_steps_no_change" BEFORE UPDATE OR DELETE ON "reset_case_steps" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();--> statement-breakpoint
CREATE TRIGGER "reset_case_steps_no_truncate" BEFORE TRUNCATE ON "reset_case_steps" FOR EACH STATEMENT EXECUTE FUNCTION "audit_append_only"();--> statement-breakpoint
CREATE TRIGGER "reset_snapshots_no_change" BEFORE UPDATE OR DELETE ON "reset_snapshots" FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();
