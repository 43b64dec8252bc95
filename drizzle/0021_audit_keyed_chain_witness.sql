ALTER TABLE "audit_checkpoints" ADD COLUMN "prev_seq" bigint;--> statement-breakpoint
ALTER TABLE "audit_checkpoints" ADD COLUMN "keyed_from" bigint;--> statement-breakpoint
ALTER TABLE "audit_head" ADD COLUMN "keyed_from" bigint;