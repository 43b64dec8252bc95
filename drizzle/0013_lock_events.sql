CREATE TABLE "lock_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"lock_id" uuid NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"summary" text NOT NULL,
	"source" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "lock_events" ADD CONSTRAINT "lock_events_lock_id_locks_id_fk" FOREIGN KEY ("lock_id") REFERENCES "public"."locks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "lock_events_lock_idx" ON "lock_events" USING btree ("lock_id","at");