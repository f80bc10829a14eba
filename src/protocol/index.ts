/**
 * The wire protocol shared by the server framework and the client: close and error codes, frame
 * shapes, reserved types. Browser-safe (no Node imports).
 */
export { CloseCode, ErrorCode, isPermanentClose, type CloseCodeValue, type ErrorCodeValue } from './codes.ts';
export {
  RESERVED_TYPES,
  type ClientFrame,
  type Frame,
  type MultiplexWelcome,
  type ReplayHead,
  type SubscribeData,
  type UnsubscribeData,
  type Unsubscribed,
  type Welcome,
} from './frames.ts';
export type { AckData, ContractOf, NamespaceContract, NamespaceResponse, UntypedContract } from './contract.ts';
