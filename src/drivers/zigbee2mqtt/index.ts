/** The Zigbee2MQTT driver: locks on a Zigbee network bridged to MQTT by Zigbee2MQTT. */
export { Zigbee2MqttDriver, createZigbee2MqttDriver, type Zigbee2MqttDriverConfig, type Zigbee2MqttLogger } from './driver.js';
