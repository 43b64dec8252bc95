CREATE TABLE "lock_alerts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"lock_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"detail" text DEFAULT '' NOT NULL,
	"source" text NOT NULL,
	"raised_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by_id" uuid,
	"acknowledged_by" text,
	"note" text
);
--> statement-breakpoint
ALTER TABLE "lock_alerts" ADD CONSTRAINT "lock_alerts_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "lock_alerts_open_idx" ON "lock_alerts" USING btree ("lock_id","kind") WHERE "lock_alerts"."acknowledged_at" is null;--> statement-breakpoint
CREATE INDEX "lock_alerts_raised_idx" ON "lock_alerts" USING btree ("raised_at");