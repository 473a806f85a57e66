/* consumers.h — the one list of outbox consumers a running shop starts. */
#ifndef SHOP_WORK_CONSUMERS_H
#define SHOP_WORK_CONSUMERS_H

struct shop;
struct dispatcher;

/** Adds every consumer of the shop to `d` (consumers.c). */
void consumers_register(struct shop *shop, struct dispatcher *d);

#endif
