/* notify_smtp.c — the email channel over SMTP (NTF-1), with libcurl's SMTP
 * support (notify_provider.h).
 *
 * A pool of `conns` easy handles, each keeping its connection to the relay
 * open between messages (libcurl reuses an easy handle's connection), is
 * shared by the sender threads: send_batch takes a handle, sends its items
 * one message each, and gives the handle back.
 *
 * TLS and AUTH. `tls` "try" uses STARTTLS when the relay offers it,
 * "require" refuses to go on without it (CURLUSESSL_ALL: RETRY, nothing
 * sent), "off" never asks; smtps:// is TLS from the start. The relay's
 * certificate is verified, against `ca_file` when one is configured. With a
 * user configured, libcurl authenticates with the best mechanism both sides
 * offer (PLAIN, LOGIN, …), and TLS defaults to "require" so credentials
 * never travel in clear. libcurl goes on *without* AUTH when the relay does
 * not advertise it; so that a message is never handed over unauthenticated,
 * each handle watches the relay's replies (a debug callback: a 220 greeting
 * starts a session unauthenticated, a 235 authenticates it) and the upload
 * callback aborts the DATA phase of a session that is not authenticated.
 *
 * Each message is multipart/alternative (text, then HTML) with a heading
 * chosen by the notification's kind, a List-Unsubscribe header (RFC 2369,
 * with RFC 8058 one-click), a Message-ID made from the notification id (the
 * idempotency key: a relay or a mailbox that deduplicates on it sees a
 * redelivery as the same message) and X-Shopd-Notification-Id.
 *
 * Results: accepted (250 after DATA) → OK; a 5xx from the relay about the
 * message (a refused recipient, a refused sender) → REJECTED; anything else
 * (no connection, a timeout, a 4xx) → RETRY, which the engine retries with
 * backoff and finally dead-letters. A failure of the session itself (no
 * connection, TLS impossible or untrusted, AUTH refused or not offered) is
 * the shop's configuration or the relay's state, not the message's: RETRY
 * for it and for the rest of the batch without trying them, so that fixing
 * the password or the certificate lets every waiting message go.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ext/notify_provider.h"
#include "util/xalloc.h"

#define SMTP_CONNS_MAX   64
#define SMTP_MESSAGE_MAX (1u << 20)

/* A kept-alive connection and what the relay said on it. */
struct conn {
    CURL *e;
    bool authed; /* this session got 235 to its AUTH */
};

struct smtp {
    struct notify_provider p;
    char *url, *from, *user, *password, *unsubscribe, *ca_file;
    long use_ssl; /* CURLUSESSL_* */
    long timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *idle[SMTP_CONNS_MAX];
    int nidle;
};

/* A heading and a closing line per kind of notification. */
static void kind_words(const char *kind, const char **heading, const char **closing)
{
    static const struct {
        const char *prefix, *heading, *closing;
    } table[] = {
        {"order.", "About your order", "Thank you for shopping with us."},
        {"return", "About your return", "Thank you for shopping with us."},
        {"refund", "About your refund", "Thank you for shopping with us."},
        {"price_drop", "A price dropped on your wishlist", "Prices can change again at any time."},
        {"back_in_stock", "Back in stock", "Items sell out; do not wait too long."},
        {"flash_sale", "A flash sale has started", "Quantities are limited."},
        {"card.", "About your payment method", "Keep your payment details up to date."},
        {"review.", "About your review", "Thank you for your review."},
        {"webhook.", "A note for shop administrators", "See the admin console for details."},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (kind && !strncmp(kind, table[i].prefix, strlen(table[i].prefix))) {
            *heading = table[i].heading;
            *closing = table[i].closing;
            return;
        }
    *heading = "News from the shop";
    *closing = "";
}

/* Appends `s` with CR and LF replaced by spaces (header values). */
static void header_text(struct buf *b, const char *s)
{
    for (; s && *s; s++)
        buf_append(b, *s == '\r' || *s == '\n' ? " " : s, 1);
}

/* An RFC 2047 encoded word (UTF-8, base64) when `s` is not plain ASCII. */
static void header_word(struct buf *b, const char *s)
{
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ascii = ascii && *p >= 0x20 && *p < 0x7f;
    if (ascii) {
        header_text(b, s);
        return;
    }
    size_t n = strlen(s);
    size_t enc = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = xmalloc(enc);
    sodium_bin2base64(out, enc, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    buf_printf(b, "=?UTF-8?B?%s?=", out);
    free(out);
}

static void html_text(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\r':
            break;
        case '\n':
            buf_puts(b, "<br>");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

/* Body text with bare LF made CRLF and a line starting with "." doubled
 * (libcurl dot-stuffs DATA itself, so only line ends are ours to fix). */
static void body_text(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\r')
            continue;
        if (*s == '\n')
            buf_puts(b, "\r\n");
        else
            buf_append(b, s, 1);
    }
}

static bool address_ok(const char *a)
{
    if (!a || !*a || strlen(a) > 254 || !strchr(a, '@'))
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= ' ' || *p == '<' || *p == '>' || *p == 0x7f)
            return false;
    return true;
}

static void compose(struct smtp *s, const struct notify_item *it, struct buf *b)
{
    const struct notify_message *m = it->msg;
    const char *heading, *closing;
    kind_words(m->kind, &heading, &closing);
    char date[64], boundary[48];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    snprintf(boundary, sizeof boundary, "=_shopd_%lld_%08x", (long long)it->id,
             randombytes_random());
    buf_printf(b, "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: ", date, s->from, it->to[0]);
    header_word(b, m->title && *m->title ? m->title : heading);
    buf_printf(b,
               "\r\nMessage-ID: <notification-%lld@shopd>\r\n"
               "X-Shopd-Notification-Id: %lld\r\nX-Shopd-Kind: ",
               (long long)it->id, (long long)it->id);
    header_text(b, m->kind);
    buf_puts(b, "\r\nList-Unsubscribe: <");
    if (*s->unsubscribe)
        header_text(b, s->unsubscribe);
    else
        buf_printf(b, "mailto:%s?subject=unsubscribe", s->from);
    buf_printf(b,
               ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n",
               boundary);
    buf_printf(b,
               "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n",
               boundary);
    body_text(b, heading);
    buf_puts(b, "\r\n\r\n");
    body_text(b, m->title);
    buf_puts(b, "\r\n\r\n");
    body_text(b, m->body);
    buf_puts(b, "\r\n\r\n");
    body_text(b, closing);
    buf_printf(b,
               "\r\n\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n"
               "<!doctype html><html><body><h1>",
               boundary);
    html_text(b, heading);
    buf_puts(b, "</h1><h2>");
    html_text(b, m->title);
    buf_puts(b, "</h2><p>");
    html_text(b, m->body);
    buf_puts(b, "</p><p><small>");
    html_text(b, closing);
    buf_printf(b, "</small></p></body></html>\r\n--%s--\r\n", boundary);
}

struct upload {
    const char *data;
    size_t len, off;
    const struct conn *c;
    bool must_auth, refused; /* refused: aborted, the session was not authenticated */
};

static size_t read_cb(char *out, size_t size, size_t n, void *cls)
{
    struct upload *u = cls;
    if (u->must_auth && !u->c->authed) {
        u->refused = true;
        return CURL_READFUNC_ABORT;
    }
    size_t room = size * n, left = u->len - u->off;
    size_t k = left < room ? left : room;
    memcpy(out, u->data + u->off, k);
    u->off += k;
    return k;
}

/* Watches the relay's replies: a greeting (220, also after STARTTLS) opens a
 * session not yet authenticated, 235 authenticates it. */
static int debug_cb(CURL *e, curl_infotype type, char *data, size_t size, void *cls)
{
    (void)e;
    struct conn *c = cls;
    if (type != CURLINFO_HEADER_IN || size < 4)
        return 0;
    if (!memcmp(data, "220", 3) && (data[3] == ' ' || data[3] == '-'))
        c->authed = false;
    else if (!memcmp(data, "235", 3) && (data[3] == ' ' || data[3] == '-'))
        c->authed = true;
    return 0;
}

/* Whether a failure is the session's (every other item would fail alike). */
static bool session_failure(CURLcode rc, bool refused)
{
    return refused || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED ||
           rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_SSL_CACERT_BADFILE;
}

/* Sends one item; returns true when the session failed (see above). */
static bool send_one(struct smtp *s, struct conn *c, struct notify_item *it)
{
    CURL *e = c->e;
    if (it->nto < 1 || !address_ok(it->to[0]) || !address_ok(s->from)) {
        it->result = NOTIFY_REJECTED;
        snprintf(it->error, sizeof it->error, "smtp: not an email address");
        return false;
    }
    struct buf msg;
    buf_init(&msg, SMTP_MESSAGE_MAX);
    compose(s, it, &msg);
    char from[300], to[300];
    snprintf(from, sizeof from, "<%s>", s->from);
    snprintf(to, sizeof to, "<%s>", it->to[0]);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    struct upload u = {msg.data, msg.len, 0, c, *s->user != 0, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL, s->use_ssl);
    if (*s->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (*s->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, c);
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, &u);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 3000 ? s->timeout_ms : 3000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    bool session = rc != CURLE_OK && session_failure(rc, u.refused);
    if (rc == CURLE_OK) {
        it->result = NOTIFY_OK;
    } else if (u.refused) {
        it->result = NOTIFY_RETRY;
        snprintf(it->error, sizeof it->error,
                 "smtp: the relay did not authenticate us (no AUTH offered); not sent");
    } else {
        it->result = !session && code >= 500 && code <= 599 ? NOTIFY_REJECTED : NOTIFY_RETRY;
        snprintf(it->error, sizeof it->error, "smtp: %.100s (%ld)",
                 *errbuf ? errbuf : curl_easy_strerror(rc), code);
    }
    curl_slist_free_all(rcpt);
    buf_free(&msg);
    return session;
}

static void smtp_send(struct notify_provider *p, struct notify_item *items, int n)
{
    struct smtp *s = (struct smtp *)p;
    pthread_mutex_lock(&s->mu);
    while (s->nidle == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    struct conn *e = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) {
        /* A session that fails (relay down, TLS, AUTH) fails fast for every
         * item of the batch: they are all retried later. */
        if (send_one(s, e, &items[i])) {
            for (int k = i + 1; k < n; k++) {
                items[k].result = NOTIFY_RETRY;
                memcpy(items[k].error, items[i].error, sizeof items[k].error);
            }
            break;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = e;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void smtp_destroy(struct notify_provider *p)
{
    struct smtp *s = (struct smtp *)p;
    for (int i = 0; i < s->nidle; i++) {
        curl_easy_cleanup(s->idle[i]->e);
        free(s->idle[i]);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->url);
    free(s->from);
    free(s->user);
    free(s->password);
    free(s->unsubscribe);
    free(s->ca_file);
    free(s);
}

struct notify_provider *notify_smtp_new(const struct notify_smtp_opts *o, enum notify_channel ch,
                                        char *err, size_t errlen)
{
    if (!o->url || (strncmp(o->url, "smtp://", 7) && strncmp(o->url, "smtps://", 8))) {
        snprintf(err, errlen, "SHOPD_SMTP_URL must start with smtp:// or smtps://");
        return NULL;
    }
    if (!address_ok(o->from)) {
        snprintf(err, errlen, "SHOPD_SMTP_FROM must be an email address");
        return NULL;
    }
    const char *tls = o->tls && *o->tls ? o->tls : o->user && *o->user ? "require" : "try";
    long use_ssl = !strcmp(tls, "try")       ? (long)CURLUSESSL_TRY
                   : !strcmp(tls, "require") ? (long)CURLUSESSL_ALL
                   : !strcmp(tls, "off")     ? (long)CURLUSESSL_NONE
                                             : -1;
    if (use_ssl < 0) {
        snprintf(err, errlen, "SHOPD_SMTP_TLS must be try, require or off");
        return NULL;
    }
    static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
    static bool curl_ready;
    pthread_mutex_lock(&init_mu);
    if (!curl_ready)
        curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    pthread_mutex_unlock(&init_mu);
    struct smtp *s = xcalloc(1, sizeof *s);
    s->p.name = "smtp";
    s->p.channel = ch;
    s->p.send_batch = smtp_send;
    s->p.destroy = smtp_destroy;
    s->url = xstrdup(o->url);
    s->from = xstrdup(o->from);
    s->user = xstrdup(o->user ? o->user : "");
    s->password = xstrdup(o->password ? o->password : "");
    s->unsubscribe = xstrdup(o->unsubscribe ? o->unsubscribe : "");
    s->ca_file = xstrdup(o->ca_file ? o->ca_file : "");
    s->use_ssl = use_ssl;
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 15000;
    int conns = o->connections < 1                ? 1
                : o->connections > SMTP_CONNS_MAX ? SMTP_CONNS_MAX
                                                  : o->connections;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (int i = 0; i < conns; i++) {
        CURL *e = curl_easy_init();
        if (!e) {
            snprintf(err, errlen, "libcurl failed to initialise");
            smtp_destroy(&s->p);
            return NULL;
        }
        struct conn *c = xcalloc(1, sizeof *c);
        c->e = e;
        s->idle[s->nidle++] = c;
    }
    return &s->p;
}
