export {
  CHECK_PATH,
  SwagSwitchError,
  SwagTrafficSwitch,
  type SwagTrafficSwitchOptions,
} from './swag-switch.js';
export { buildUpstreamInclude, DEFAULT_PASSIVE_HEALTH, UPSTREAM_NAME, upstreamServerOf } from './upstream.js';
