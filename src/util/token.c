#include "util/token.h"

#include <sodium.h>
#include <string.h>

bool token_init(void)
{
    return sodium_init() >= 0;
}

void token_new(char out[TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, TOKEN_LEN + 1, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void token_hash(const char *s, size_t len, char out[TOKEN_HASH_LEN + 1])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)s, len, NULL, 0);
    sodium_bin2hex(out, TOKEN_HASH_LEN + 1, h, sizeof h);
}

void token_csrf(const char *session_token, char out[TOKEN_LEN + 1])
{
    /* The key only separates this digest from token_hash's (the stored
     * one): knowing the database must not give a page's CSRF token. */
    static const unsigned char key[crypto_generichash_KEYBYTES] = "shopd csrf token, version 1";
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)session_token, strlen(session_token),
                       key, sizeof key);
    sodium_bin2base64(out, TOKEN_LEN + 1, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool token_plausible(const char *s)
{
    if (!s || strlen(s) != TOKEN_LEN)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

uint64_t token_rand64(void)
{
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    return v;
}

uint32_t token_uniform(uint32_t n)
{
    return randombytes_uniform(n);
}
