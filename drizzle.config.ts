import { defineConfig } from 'drizzle-kit';

// One migration folder for both engines; generate with `npm run db:generate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/schema.ts',
  out: './drizzle',
});
