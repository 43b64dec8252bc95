/**
 * Migration 0022 on each engine: a Zigbee2MQTT integration stored before lockwarden read the user
 * numbering keeps slot N on Zigbee user N (`firstUser: 1`), one made since keeps what it has, other
 * drivers are untouched; and a new integration's settings default to Zigbee's own numbering (0).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { INTEGRATION_CONFIG } from '../../src/domain/integrations.js';
import { migrationsFolder, type Database } from '../../src/store/database.js';
import { integrations } from '../../src/store/schema.js';
import { ENGINES, testDatabase } from '../helpers/db.js';

const MIGRATION = readFileSync(path.join(migrationsFolder(), '0022_zigbee2mqtt_user_numbering.sql'), 'utf8');

for (const engine of ENGINES) {
  describe(`Zigbee2MQTT user numbering (${engine})`, () => {
    let database: Database;
    before(async () => {
      database = await testDatabase(engine);
    });
    after(() => database.close());

    it('keeps integrations made before it on user N for slot N, and changes nothing else', async () => {
      const { db } = database;
      const row = (driver: 'zigbee2mqtt' | 'zwave', config: object) => ({ id: randomUUID(), driver, name: `${driver} ${randomUUID().slice(0, 4)}`, config: config as never, createdAt: new Date(), createdBy: 'test' });
      const old = row('zigbee2mqtt', { url: 'mqtt://broker.example.test:1883', baseTopic: 'zigbee2mqtt' });
      const recent = row('zigbee2mqtt', { url: 'mqtt://broker.example.test:1883', baseTopic: 'z2m', firstUser: 0 });
      const zwave = row('zwave', { url: 'ws://zwave.example.test:3000' });
      await db.insert(integrations).values([old, recent, zwave]);
      await db.execute(sql.raw(MIGRATION));
      const config = async (id: string) => (await db.select({ config: integrations.config }).from(integrations).where(eq(integrations.id, id)))[0]!.config;
      assert.deepEqual(await config(old.id), { url: 'mqtt://broker.example.test:1883', baseTopic: 'zigbee2mqtt', firstUser: 1 });
      assert.deepEqual(await config(recent.id), recent.config);
      assert.deepEqual(await config(zwave.id), zwave.config);
    });

    it('gives a new integration Zigbee’s own numbering, and refuses any other first user, naming it', () => {
      assert.equal(INTEGRATION_CONFIG.zigbee2mqtt.parse({ url: 'mqtt://broker.example.test:1883' }).firstUser, 0);
      const bad = INTEGRATION_CONFIG.zigbee2mqtt.safeParse({ url: 'mqtt://broker.example.test:1883', firstUser: 2 });
      assert.equal(bad.success, false);
      assert.match(bad.error.issues[0]!.message, /firstUser must be 0 or 1/);
    });
  });
}
