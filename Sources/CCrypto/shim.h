#pragma once
// SHA-256 (and HMAC-SHA1 for hashed known_hosts entries) from OpenSSL's libcrypto, which libgit2's
// libssh2 already loads into the process: no extra code in memory, and SHA-NI where the CPU has it.
#include <openssl/evp.h>
#include <openssl/hmac.h>
// age encryption of backups (X25519, HKDF-SHA-256, ChaCha20-Poly1305, random keys and nonces).
#include <openssl/kdf.h>
#include <openssl/rand.h>
