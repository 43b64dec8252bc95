DROP INDEX "handbook_entries_search_idx";--> statement-breakpoint
ALTER TABLE "handbook_entries" ADD COLUMN "search_vector" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_text)) STORED NOT NULL;--> statement-breakpoint
CREATE INDEX "handbook_entries_search_vector_idx" ON "handbook_entries" USING gin ("search_vector");