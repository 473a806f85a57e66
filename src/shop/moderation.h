/* moderation.h — the rules that hold user text for a moderator (ENG-1):
 * profanity, links, and accounts too new to be trusted. Pure functions of
 * their inputs (no database, no clock), so they are tested on their own
 * (tests/unit/test_moderation.c) and any module taking user text can use
 * them.
 *
 *  - Profanity: a word from a fixed list (moderation.c), matched as a whole
 *    word, case-insensitively. Words are runs of ASCII letters, digits and
 *    any non-ASCII byte, so "Scunthorpe", "classic" and "shitake"-like
 *    words do not match, and "SHIT!" or "(crap)" do.
 *  - Links: "http://", "https://", "ftp://" or "www." anywhere
 *    (case-insensitive), or a bare domain: a word, a dot and a common
 *    top-level domain ending the word ("cheap-pills.com", "x.ru/buy").
 *  - New accounts: created less than `new_account_ms` before `now`.
 */
#ifndef SHOP_SHOP_MODERATION_H
#define SHOP_SHOP_MODERATION_H

#include <stdbool.h>
#include <stdint.h>

enum {
    MOD_PROFANITY = 1u << 0,
    MOD_LINK = 1u << 1,
    MOD_NEW_ACCOUNT = 1u << 2,
    MOD_REJECTED_BEFORE = 1u << 3, /* an edit of a review a moderator rejected */
};

/** True when `text` holds a listed word, as a whole word, ignoring case. */
bool moderation_has_profanity(const char *text);

/** True when `text` holds a link or a bare domain. */
bool moderation_has_link(const char *text);

/** The MOD_* reasons to hold `n` texts written by an account created at
 *  `account_created_ms`, at `now_ms`; 0 means publish. */
unsigned moderation_check(const char *const *texts, int n, int64_t account_created_ms,
                          int64_t now_ms, int64_t new_account_ms);

/** Writes the names of the reasons in `held_for` ("profanity", "link",
 *  "new_account", "rejected_before") to `out` (at most 4) and returns how
 *  many. */
int moderation_reasons(unsigned held_for, const char *out[4]);

#endif
