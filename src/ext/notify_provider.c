/* notify_provider.c — what every provider shares: channel names and the
 * JSON shape of an item. */
#include "ext/notify_provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/faults.h"
#include "util/xalloc.h"

static const char *const channel_names[NOTIFY_CHANNELS] = {
    [NOTIFY_PUSH] = "push",
    [NOTIFY_EMAIL] = "email",
    [NOTIFY_SMS] = "sms",
};

const char *notify_channel_name(enum notify_channel c)
{
    return (unsigned)c < NOTIFY_CHANNELS ? channel_names[c] : "?";
}

int notify_channel_parse(const char *s)
{
    for (int i = 0; i < NOTIFY_CHANNELS; i++)
        if (!strcmp(s, channel_names[i]))
            return i;
    return -1;
}

void notify_message_render(struct notify_message *m)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "\"key\":");
    buf_json_string(&b, m->key);
    buf_puts(&b, ",\"kind\":");
    buf_json_string(&b, m->kind);
    buf_puts(&b, ",\"title\":");
    buf_json_string(&b, m->title);
    buf_puts(&b, ",\"body\":");
    buf_json_string(&b, m->body);
    buf_puts(&b, ",\"data\":");
    buf_puts(&b, m->data && *m->data == '{' ? m->data : "{}");
    free(m->fragment);
    m->fragment = buf_steal(&b, &m->fragment_len);
}

void notify_message_clear(struct notify_message *m)
{
    free(m->key);
    free(m->kind);
    free(m->title);
    free(m->body);
    free(m->data);
    free(m->fragment);
    memset(m, 0, sizeof *m);
}

bool notify_item_json(struct buf *out, const struct notify_item *it)
{
    bool ok =
        buf_printf(out, "{\"id\":%lld,\"user_id\":%lld,\"channel\":\"%s\",\"to\":[",
                   (long long)it->id, (long long)it->user_id, notify_channel_name(it->channel));
    for (int i = 0; i < it->nto && ok; i++)
        ok = (i == 0 || buf_append(out, ",", 1)) && buf_json_string(out, it->to[i]);
    return ok && buf_append(out, "],", 2) &&
           buf_append(out, it->msg->fragment, it->msg->fragment_len) && buf_append(out, "}", 1);
}

void notify_send(struct notify_provider *p, struct notify_item *items, int n)
{
    enum fault_mode fm = faults_check(FP_NOTIFY_SEND, NULL);
    if (fm == FM_NONE || fm == FM_COUNT || fm == FM_LOST)
        p->send_batch(p, items, n);
    if (fm == FM_NONE || fm == FM_COUNT)
        return;
    for (int i = 0; i < n; i++) {
        items[i].result = NOTIFY_RETRY;
        snprintf(items[i].error, sizeof items[i].error, "injected fault: %s",
                 faults_mode_name(fm));
    }
}
