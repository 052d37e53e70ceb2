// Public API of the identity layer: Ed25519 identities, their file on disk,
// trust on first use (known_peers), and allow lists for private servers.
export { IdentityError, isIdentityError, type IdentityErrorCode } from "./errors.ts";
export * from "./identity.ts";
export { KnownPeers, type PeerStatus } from "./known-peers.ts";
export { loadAllowList, parseAllowList } from "./allow-list.ts";
