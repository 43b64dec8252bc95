/** The Seam cloud driver: factory, webhook verification and rate limits. */
export { SEAM_ENDPOINT, SeamDriver, capabilitiesOf, createSeamDriver, taggedName, type SeamDriverConfig, type SeamDriverLogger } from './driver.js';
export { SEAM_RATE_LIMITS, SeamRateLimiter, type SeamRateKind } from './rate-limit.js';
export { SeamWebhookError, isSeamEvent, verifySeamWebhook, type SeamEvent } from './webhook.js';
