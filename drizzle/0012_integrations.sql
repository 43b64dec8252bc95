CREATE TABLE "integrations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"driver" text NOT NULL,
	"name" text NOT NULL,
	"config" jsonb NOT NULL,
	"secret_sealed" text,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL
);
