#include "shop/moderation.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Whole words only, lower case. Inflections are listed: matching is exact,
 * so "ass" never matches "class" and "assess". Keep it sorted. */
static const char *const profanity[] = {
    "arse",    "arsehole",  "ass",      "asshole",  "assholes", "bastard",      "bastards",
    "bitch",   "bitches",   "bitching", "bollocks", "bullshit", "cock",         "cocksucker",
    "crap",    "crappy",    "cunt",     "cunts",    "dick",     "dickhead",     "dicks",
    "dipshit", "douchebag", "fag",      "faggot",   "fuck",     "fucked",       "fucker",
    "fuckers", "fucking",   "fucks",    "goddamn",  "jackass",  "motherfucker", "motherfucking",
    "nigger",  "piss",      "pissed",   "prick",    "pussy",    "retard",       "shit",
    "shits",   "shitty",    "slut",     "sluts",    "twat",     "wank",         "wanker",
    "whore",   "whores",
};

/* Bytes that make up a word: ASCII letters and digits, and every byte of a
 * multi-byte UTF-8 character (so an accented word is one word). */
static bool word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

static bool listed(const char *w, size_t len)
{
    char low[32];
    if (len >= sizeof low)
        return false;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)w[i]);
    low[len] = 0;
    size_t lo = 0, hi = sizeof profanity / sizeof profanity[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, profanity[mid]);
        if (!c)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

bool moderation_has_profanity(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !word_byte(*p))
            p++;
        const unsigned char *start = p;
        while (*p && word_byte(*p))
            p++;
        if (p > start && listed((const char *)start, (size_t)(p - start)))
            return true;
    }
    return false;
}

static const char *const schemes[] = {"http://", "https://", "ftp://", "www."};
static const char *const tlds[] = {"biz",  "cn",   "co",  "com",    "info", "io",
                                   "link", "me",   "net", "online", "org",  "ru",
                                   "shop", "site", "top", "uk",     "us",   "xyz"};

/* A bare domain: `p` is at a '.', preceded by a word character, followed
 * by a listed TLD that ends the word (a '/', space, punctuation or the end). */
static bool bare_domain_at(const unsigned char *text, const unsigned char *p)
{
    if (p == text || !isalnum(p[-1]))
        return false;
    for (size_t i = 0; i < sizeof tlds / sizeof tlds[0]; i++) {
        size_t n = strlen(tlds[i]);
        if (!strncasecmp((const char *)p + 1, tlds[i], n) && !word_byte(p[1 + n]))
            return true;
    }
    return false;
}

bool moderation_has_link(const char *text)
{
    const unsigned char *t = (const unsigned char *)text;
    for (const unsigned char *p = t; *p; p++) {
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
            if (!strncasecmp((const char *)p, schemes[i], strlen(schemes[i])))
                return true;
        if (*p == '.' && bare_domain_at(t, p))
            return true;
    }
    return false;
}

unsigned moderation_check(const char *const *texts, int n, int64_t account_created_ms,
                          int64_t now_ms, int64_t new_account_ms)
{
    unsigned why = 0;
    for (int i = 0; i < n; i++) {
        if (!texts[i])
            continue;
        if (moderation_has_profanity(texts[i]))
            why |= MOD_PROFANITY;
        if (moderation_has_link(texts[i]))
            why |= MOD_LINK;
    }
    if (now_ms - account_created_ms < new_account_ms)
        why |= MOD_NEW_ACCOUNT;
    return why;
}

int moderation_reasons(unsigned held_for, const char *out[4])
{
    int n = 0;
    if (held_for & MOD_PROFANITY)
        out[n++] = "profanity";
    if (held_for & MOD_LINK)
        out[n++] = "link";
    if (held_for & MOD_NEW_ACCOUNT)
        out[n++] = "new_account";
    if (held_for & MOD_REJECTED_BEFORE)
        out[n++] = "rejected_before";
    return n;
}
