CREATE TABLE "reset_case_photos" (
	"id" uuid PRIMARY KEY NOT NULL,
	"case_id" uuid NOT NULL,
	"caption" text DEFAULT '' NOT NULL,
	"filename" text NOT NULL,
	"media_type" text NOT NULL,
	"size" integer NOT NULL,
	"sha256" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"bytes" "bytea" NOT NULL,
	"thumbnail" "bytea" NOT NULL,
	"created_by_id" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "reset_case_photos_type_check" CHECK ("reset_case_photos"."media_type" in ('image/png','image/jpeg','image/webp')),
	CONSTRAINT "reset_case_photos_size_check" CHECK ("reset_case_photos"."size" between 1 and 5242880)
);
--> statement-breakpoint
ALTER TABLE "reset_case_photos" ADD CONSTRAINT "reset_case_photos_case_id_reset_cases_id_fk" FOREIGN KEY ("case_id") REFERENCES "public"."reset_cases"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "reset_case_photos_case_idx" ON "reset_case_photos" USING btree ("case_id");