// The cluster's PKI: its CA, the identities it issues, and who a peer is. docs/security.md.
export { readBundle, type IdentityBundle } from './bundle.ts';
export { hasCaKey, initCa, initCaSync } from './ca.ts';
export { roleUser, servicePassword, type ServiceName, type ServiceUser } from './credentials.ts';
export { PkiError } from './errors.ts';
export {
  loadIdentity,
  loadIdentitySync,
  serviceIdentity,
  serviceIdentitySync,
  serviceSans,
} from './identity.ts';
export { identityUri, issueIdentity, issueIdentitySync, type IssueRequest } from './issue.ts';
export { BUNDLE_FILES, bundleDir, caPaths, clusterPkiDir, IDENTITY_NAME, ROLES, type Role } from './paths.ts';
export { identityOfPeer, identityOfSan } from './peer.ts';
export {
  adminIdentity,
  currentRole,
  DEFAULT_OPERATOR,
  processIdentity,
  useIdentity,
} from './process-identity.ts';
