DROP INDEX "handbook_entries_search_vector_idx";--> statement-breakpoint
DROP INDEX "handbook_entries_model_key_trgm_idx";--> statement-breakpoint
CREATE INDEX "handbook_entries_search_vector_idx" ON "handbook_entries" USING gin ("search_vector") WITH (fastupdate=false);--> statement-breakpoint
CREATE INDEX "handbook_entries_model_key_trgm_idx" ON "handbook_entries" USING gin ("model_key" gin_trgm_ops) WITH (fastupdate=false);