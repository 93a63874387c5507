/* list.h - the one intrusive doubly linked list of the core (as libuv's
 * queue.h, as the Linux kernel's list.h).
 *
 * A list is a head node; an element embeds a node and is found back from it
 * with yolk__list_entry. Lists are circular: an empty head points at itself,
 * and so does a node that is in no list (after yolk__list_node_init or
 * yolk__list_remove), which makes "is it linked?" a cheap question and
 * removing twice harmless. Nothing here allocates; the owner of the elements
 * is whoever embeds the nodes (each list says so where it is declared).
 *
 * Iterating while the current element may be removed (even freed):
 * yolk__list_foreach_safe. Elements added during such a walk may or may not
 * be visited; callers that must not see them take a snapshot first.
 */
#ifndef YOLK_LIST_H
#define YOLK_LIST_H

#include <stddef.h>

typedef struct yolk_list_s {
  struct yolk_list_s *prev, *next;
} yolk_list_t;

/* A head, or a node that belongs to no list. */
static inline void yolk__list_init(yolk_list_t *h) { h->prev = h->next = h; }
#define yolk__list_node_init yolk__list_init

static inline int yolk__list_empty(const yolk_list_t *h) { return h->next == h; }
/* For a node: 1 while it is in a list. */
static inline int yolk__list_linked(const yolk_list_t *n) { return n->next != n && n->next != NULL; }

static inline void yolk__list_insert_after(yolk_list_t *at, yolk_list_t *n) {
  n->prev = at;
  n->next = at->next;
  at->next->prev = n;
  at->next = n;
}
static inline void yolk__list_push_back(yolk_list_t *h, yolk_list_t *n) { yolk__list_insert_after(h->prev, n); }
static inline void yolk__list_push_front(yolk_list_t *h, yolk_list_t *n) { yolk__list_insert_after(h, n); }

/* Unlinks n (if linked) and leaves it self-linked. */
static inline void yolk__list_remove(yolk_list_t *n) {
  if (!yolk__list_linked(n)) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

/* The first / last node, or NULL when the list is empty. */
static inline yolk_list_t *yolk__list_first(const yolk_list_t *h) { return h->next == h ? NULL : h->next; }
static inline yolk_list_t *yolk__list_last(const yolk_list_t *h) { return h->prev == h ? NULL : h->prev; }

/* Moves every node of from to the end of to; from is left empty. */
static inline void yolk__list_splice(yolk_list_t *to, yolk_list_t *from) {
  if (yolk__list_empty(from)) return;
  yolk_list_t *first = from->next, *last = from->prev;
  first->prev = to->prev;
  to->prev->next = first;
  last->next = to;
  to->prev = last;
  yolk__list_init(from);
}

#define yolk__list_entry(node, type, field) ((type *)(void *)((char *)(node) - offsetof(type, field)))

#define yolk__list_foreach(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define yolk__list_foreach_safe(pos, tmp, head) \
  for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
