// Shared values, with their units in the name or the expression.
// Kept here (not in index.ts) so that any module may import them without cycles.

export const millisecond = 1;
export const second = 1000 * millisecond;

/** UDP port the rendezvous server listens on by default. */
export const DEFAULT_PORT = 39738;

/** Protocol versions this build speaks; the first is the one it sends. */
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS = [PROTOCOL_VERSION] as const;

/** Largest datagram we send or accept (bytes of UDP payload). Path-MTU safe. */
export const MAX_PACKET_BYTES = 1200;

/** Names: 1–32 characters, letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
export const MAX_LOCAL_ADDRESSES = 8;
/** A sequential peer: probe this many of its next ports (after the one the alternate port saw), for PREDICT_FOR. */
export const PREDICT_WINDOW = 32;
export const PREDICT_FOR = 3 * second;
/** Largest port step a NAT is taken to be sequential with (larger ones look random). */
export const MAX_PORT_STEP = 16;
/** The server's socket receive buffer (the kernel default, ~208 KiB, drops bursts of a few hundred datagrams). */
export const SERVER_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** STUN's registered port (RFC 8489 §18.4). */
export const STUN_DEFAULT_PORT = 3478;
/** Addresses of its own a server lists in a RegisterAck, at most. */
export const MAX_SERVER_ADDRESSES = 4;
export const TOKEN_BYTES = 16;
/** Ed25519 / X25519 public keys, Ed25519 signatures, registration secrets, truncated MACs. */
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SECRET_BYTES = 16;
export const AUTH_BYTES = 16;

// ---- server ----
/** A registration lives this long without a refresh. */
export const REGISTRATION_TTL = 45 * second;
/** Clients refresh this often: under the 30 s idle timeout of common NATs. */
export const KEEPALIVE_INTERVAL = 10 * second;
/** A full registry may evict an entry that has missed this many keepalive intervals (1.5: one missed). */
export const EVICT_SILENT_AFTER_KEEPALIVES = 1.5;
/** Registry size cap (names). */
export const DEFAULT_MAX_CLIENTS = 100_000;
/** Introductions (token per pair) are remembered this long, so retried requests reuse the token. */
export const INTRODUCTION_TTL = 20 * second;
export const MAX_INTRODUCTIONS = 100_000;
/** Per source IP: requests per second allowed, and burst. */
export const RATE_PER_IP_PER_SECOND = 50;
export const RATE_BURST_PER_IP = 100;
export const MAX_RATE_BUCKETS = 100_000;
/** retry_after_ms the server suggests with RATE_LIMITED and REGISTRY_FULL. */
export const RATE_LIMITED_RETRY_AFTER = 1 * second;
export const REGISTRY_FULL_RETRY_AFTER = 5 * second;
/** A rate-limited source is told so at most this often. */
export const RATE_LIMITED_NOTICE_INTERVAL = 1 * second;
/** How often the server sweeps expired state. */
export const SWEEP_INTERVAL = 1 * second;

// ---- client ----
/** First retransmission timeout of a request to the server; doubles up to the max. */
export const REQUEST_RTO_INITIAL = 250 * millisecond;
export const REQUEST_RTO_MAX = 2 * second;
/** Registered once, then lost: retry registering with backoff up to this interval. */
export const REREGISTER_RTO_MAX = 30 * second;
/** Give up registering after this long without any answer. */
export const REGISTER_TIMEOUT = 10 * second;
/**
 * Several rendezvous servers (hp-client a,b,c): each Keepalive expects its
 * KeepaliveAck within this long, else it is sent again...
 */
export const KEEPALIVE_ACK_WAIT = 1 * second;
/** ...and after this many unanswered Keepalives in a row the client moves to the next server. */
export const FAILOVER_AFTER_UNANSWERED = 3;
/** Several servers: a registration one server has not answered for this long moves on to the next (doubling per silent round once registered, up to REREGISTER_RTO_MAX). */
export const REGISTER_FAILOVER_WAIT = 3 * second;
/**
 * A relayed session silent this long after its path was declared dead asks for a new introduction
 * (superseding the session). Long enough for a peer whose cluster instance died to move to another
 * one (KEEPALIVE_INTERVAL + FAILOVER_AFTER_UNANSWERED * KEEPALIVE_ACK_WAIT = 13 s), which then
 * relays the session's token again.
 */
export const RELAY_REINTRODUCE_AFTER = 15 * second;
/** How long after its start a punch's token is kept for its PunchReports (server). */
export const PUNCH_REPORT_WINDOW = 120 * second;
/** Ask again for an unknown peer after this long (jittered 1–2 s). */
export const UNKNOWN_RETRY_MIN = 1 * second;
export const UNKNOWN_RETRY_MAX = 2 * second;
/** Default budget for finding and connecting to the peer (the --timeout flag). */
export const DEFAULT_CONNECT_TIMEOUT = 30 * second;
/** While punching: interval between probe rounds to all candidates. */
export const PROBE_INTERVAL = 100 * millisecond;
/** While punching, the initiator re-asks the server (the peer may have missed its Initiate). */
export const REINTRODUCE_INTERVAL = 2 * second;
/** One punching attempt (one token) gives up after this long. */
export const PUNCH_TIMEOUT = 15 * second;
/** Connected: probe the peer this often (keeps NAT mappings open, measures RTT). */
export const PEER_KEEPALIVE_INTERVAL = 10 * second;
/** Connected: after this much silence from the peer, probe every SUSPECT_PROBE_INTERVAL. */
export const SUSPECT_AFTER = 15 * second;
export const SUSPECT_PROBE_INTERVAL = 1 * second;
/** Most candidate addresses one punching attempt probes (server-given plus peer-reflexive). */
export const MAX_CANDIDATES = 16;
/** Connected and waiting for an answer (unacked data or a ping): ping faster after this much silence... */
export const QUICK_SUSPECT_AFTER = 2 * second;
export const QUICK_PROBE_INTERVAL = 500 * millisecond;
/** ...and call the path dead after this much (the link fails over to the relay when it can). */
export const DEAD_PATH_AFTER = 5 * second;
/** How often the session checks its liveness. */
export const LIVENESS_TICK = 500 * millisecond;
/** Connected: declare the peer gone after this long without any packet from it. */
export const PEER_TIMEOUT = 35 * second;
/** Reliable chat: retransmission timeout bounds and in-flight window (chunks). */
export const MESSAGE_RTO_MIN = 200 * millisecond;
export const MESSAGE_RTO_MAX = 3 * second;
export const MESSAGE_WINDOW = 64;
/** RTO before any RTT sample (the session seeds it from the punch RTT). */
export const MESSAGE_RTO_INITIAL = 1 * second;
/** Longest chat line delivered whole; a longer one is delivered in pieces of this size. */
export const MAX_LINE_BYTES = 1024 * 1024;
// ---- security ----
/** A peer session moves to a new key after this many packets or this long, whichever first. */
export const REKEY_AFTER_PACKETS = 1 << 20;
export const REKEY_AFTER = 10 * 60 * second;
/** A registration cookie (Challenge) is valid this long. */
export const COOKIE_LIFETIME = 30 * second;
/** An address token (0-RTT registration) is good for this long. */
export const ADDRESS_TOKEN_LIFETIME = 24 * 60 * 60 * second;
/** A 0-RTT Register's client time must be within this of the server's wall clock (and the replay cache holds it this long). */
export const ZERO_RTT_CLOCK_SKEW = 30 * second;
/** The registration hello is padded to at least this size, so its Challenge fits the anti-amplification budget. */
export const HELLO_MIN_BYTES = 128;
/** Most names one source IP may hold at once. */
export const MAX_NAMES_PER_IP = 64;
/** Per name: Register and HolePunchRequest rate (per second) and burst. */
export const RATE_PER_NAME_PER_SECOND = 10;
export const RATE_BURST_PER_NAME = 20;
/** Used registration signatures are remembered this long (replay protection), at most this many. */
export const MAX_REPLAY_ENTRIES = 200_000;

// ---- relay and traversal ----
/** Relay: bytes per second per peer, bytes per session, idle expiry, table cap. */
export const RELAY_BYTES_PER_SECOND = 1024 * 1024;
export const RELAY_QUOTA_BYTES = 256 * 1024 * 1024;
export const RELAY_IDLE = 60 * second;
export const MAX_RELAY_SESSIONS = 10_000;
/** Punching still without a path after this long: try the relay too (direct keeps being tried). */
export const RELAY_AFTER = 1 * second;
/** On the relay: keep probing direct candidates this often, up to DIRECT_RETRY_FOR, to upgrade. */
export const DIRECT_RETRY_INTERVAL = 500 * millisecond;
export const DIRECT_RETRY_FOR = 60 * second;
/**
 * Connected directly over IPv4 while the peer has IPv6 candidates: keep
 * probing those this long, and move to the first that answers (IPv6 needs no
 * NAT mapping to stay alive, only the firewalls' holes).
 */
export const PREFER_V6_FOR = 2 * second;

/** Birthday-paradox punching (easy <-> hard): sockets the hard side opens, probes per 100 ms round, spray bound, time bound. */
export const BIRTHDAY_SOCKETS = 256;
export const BIRTHDAY_PROBES_PER_ROUND = 64;
export const BIRTHDAY_SPRAY_MAX = 4096;
export const BIRTHDAY_DURATION = 10 * second;
/** With a birthday attempt under way, the relay is brought in after this long instead of RELAY_AFTER. */
export const BIRTHDAY_RELAY_AFTER = 2 * second;

/** On stdin EOF, wait at most this long for the peer to acknowledge what was sent. */
export const DRAIN_TIMEOUT = 10 * second;
