CREATE TABLE "throttle_counters" (
	"key" text PRIMARY KEY NOT NULL,
	"count" integer NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"cap_count" integer NOT NULL,
	"cap_start" timestamp with time zone NOT NULL,
	"last_at" timestamp with time zone NOT NULL
);
