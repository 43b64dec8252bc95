-- Zigbee2MQTT integrations made before lockwarden read a lock's user numbering put slot N on Zigbee
-- user N. New ones put it on user N-1 (Zigbee numbers users from 0). The existing ones keep their
-- numbering, so the codes already on their locks stay in the slots they were given.
UPDATE "integrations" SET "config" = "config" || '{"firstUser": 1}'::jsonb WHERE "driver" = 'zigbee2mqtt' AND NOT ("config" ? 'firstUser');
