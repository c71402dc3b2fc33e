/*
 * stitchcore — union-find over a batch's events, identifiers and known
 * entities, then survivors and new ids per component (see stitchcore.h).
 *
 * Every event, identifier and known entity is a node of one union-find.
 * Resolution walks events and entities once, mapping each root to a
 * component record that collects the earliest event and the best survivor.
 */
#include "stitchcore.h"

#include "arena.h"
#include "entityid.h"
#include "idtab.h"
#include "uf.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct known {
    int64_t first_time;
    const char *first_id; /* in the graph's arena */
    uint32_t node;
} known;

typedef struct component {
    uint32_t min_event; /* earliest batch event, or IDTAB_NONE */
    uint32_t survivor;  /* best known entity, or IDTAB_NONE */
    bool late;          /* min_event comes before every known entity's earliest event */
    const char *id;     /* the entity id chosen */
    int64_t first_time; /* the entity's earliest event after the batch */
    const char *first_id;
    bool first_changed; /* a known entity whose earliest event changed */
} component;

struct sc_graph {
    uf *sets;
    const char **ev_id; /* batch events' ids, in the arena */
    uint32_t *ev_len;
    uint32_t nev;
    int64_t *ev_time;
    uint32_t *ev_node;
    uint32_t *ev_ent; /* the known entity the event was in before the batch, or IDTAB_NONE */
    size_t ev_cap;
    idtab *idents; /* identifiers by (attr, value) */
    uint32_t *id_node;
    uint32_t *id_ent; /* the known entity of the identifier, or IDTAB_NONE (new) */
    size_t id_cap;
    struct edge {
        uint32_t ev, ident;
    } * edges; /* which event carries which identifier */
    size_t nedges, edge_cap;
    idtab *entities; /* known entities by id */
    known *ent;
    size_t ent_cap;
    arena *strings; /* event ids, first-event ids and new entity ids */
    /* results */
    uint32_t *ev_comp;
    uint32_t *id_comp;
    component *comps;
    size_t ncomps;
    struct merge {
        uint32_t entity, comp;
    } * merged; /* known entities merged away, and the component that absorbed them */
    size_t nmerged;
};

sc_graph *sc_new(size_t expected_events)
{
    sc_graph *g = xcalloc(1, sizeof *g);
    /* distinct identifiers are usually fewer than events; the tables grow if not */
    g->sets = uf_new(expected_events + expected_events / 2);
    g->idents = idtab_new(expected_events / 2);
    g->entities = idtab_new(64);
    g->strings = arena_new();
    return g;
}

void sc_free(sc_graph *g)
{
    if (!g)
        return;
    uf_free(g->sets);
    free(g->ev_id);
    free(g->ev_len);
    idtab_free(g->idents);
    idtab_free(g->entities);
    arena_free(g->strings);
    free(g->ev_time);
    free(g->ev_node);
    free(g->ev_ent);
    free(g->id_node);
    free(g->id_ent);
    free(g->edges);
    free(g->ent);
    free(g->ev_comp);
    free(g->id_comp);
    free(g->comps);
    free(g->merged);
    free(g);
}

uint32_t sc_add_event(sc_graph *g, const char *id, size_t len, int64_t time)
{
    uint32_t ev = g->nev++;
    if (ev >= g->ev_cap) {
        size_t cap = g->ev_cap ? g->ev_cap * 2 : 1024;
        g->ev_id = xrealloc(g->ev_id, cap * sizeof *g->ev_id);
        g->ev_len = xrealloc(g->ev_len, cap * sizeof *g->ev_len);
        g->ev_time = xrealloc(g->ev_time, cap * sizeof *g->ev_time);
        g->ev_node = xrealloc(g->ev_node, cap * sizeof *g->ev_node);
        g->ev_ent = xrealloc(g->ev_ent, cap * sizeof *g->ev_ent);
        g->ev_cap = cap;
    }
    g->ev_id[ev] = arena_strndup(g->strings, id, len);
    g->ev_len[ev] = (uint32_t)len;
    g->ev_time[ev] = time;
    g->ev_node[ev] = uf_add(g->sets);
    g->ev_ent[ev] = IDTAB_NONE;
    return ev;
}

/* A known entity's index, added (with its own node) on first sight. */
static uint32_t known_entity(sc_graph *g, const char *entity, int64_t first_time,
                             const char *first_id)
{
    bool added;
    uint32_t e = idtab_intern(g->entities, 0, entity, strlen(entity), &added);
    if (added) {
        xgrow((void **)&g->ent, &g->ent_cap, e + 1, sizeof *g->ent);
        g->ent[e].first_time = first_time;
        g->ent[e].first_id =
            arena_strndup(g->strings, first_id ? first_id : "", first_id ? strlen(first_id) : 0);
        g->ent[e].node = uf_add(g->sets);
    }
    return e;
}

void sc_known_entity(sc_graph *g, const char *entity, int64_t first_time, const char *first_id)
{
    (void)known_entity(g, entity, first_time, first_id);
}

void sc_event_entity(sc_graph *g, uint32_t ev, const char *entity, int64_t first_time,
                     const char *first_id)
{
    uint32_t e = known_entity(g, entity, first_time, first_id);
    g->ev_ent[ev] = e;
    uf_union(g->sets, g->ev_node[ev], g->ent[e].node);
}

uint32_t sc_add_identifier(sc_graph *g, uint32_t ev, uint32_t attr, const char *value, size_t len)
{
    bool added;
    uint32_t i = idtab_intern(g->idents, attr, value, len, &added);
    if (added) {
        if (i >= g->id_cap) {
            size_t cap = g->id_cap;
            xgrow((void **)&g->id_node, &cap, i + 1, sizeof *g->id_node);
            cap = g->id_cap;
            xgrow((void **)&g->id_ent, &cap, i + 1, sizeof *g->id_ent);
            g->id_cap = cap;
        }
        g->id_node[i] = uf_add(g->sets);
        g->id_ent[i] = IDTAB_NONE;
    }
    xgrow((void **)&g->edges, &g->edge_cap, g->nedges + 1, sizeof *g->edges);
    g->edges[g->nedges++] = (struct edge){ev, i};
    uf_union(g->sets, g->ev_node[ev], g->id_node[i]);
    return i;
}

void sc_identifier_entity(sc_graph *g, uint32_t ident, const char *entity, int64_t first_time,
                          const char *first_id)
{
    uint32_t e = known_entity(g, entity, first_time, first_id);
    g->id_ent[ident] = e;
    uf_union(g->sets, g->id_node[ident], g->ent[e].node);
}

int sc_first_cmp(int64_t t1, const char *id1, size_t len1, int64_t t2, const char *id2, size_t len2)
{
    if (t1 != t2)
        return t1 < t2 ? -1 : 1;
    size_t n = len1 < len2 ? len1 : len2;
    int c = memcmp(id1, id2, n);
    if (c)
        return c;
    return len1 < len2 ? -1 : len1 > len2;
}

/* The component of a node's root, created on first sight. */
static uint32_t component_of(sc_graph *g, uint32_t *comp_of, size_t *cap, uint32_t node)
{
    uint32_t r = uf_find(g->sets, node);
    if (comp_of[r] == UINT32_MAX) {
        xgrow((void **)&g->comps, cap, g->ncomps + 1, sizeof *g->comps);
        g->comps[g->ncomps] = (component){IDTAB_NONE, IDTAB_NONE, false, NULL, 0, NULL, false};
        comp_of[r] = (uint32_t)g->ncomps++;
    }
    return comp_of[r];
}

static int event_cmp(const sc_graph *g, uint32_t a, uint32_t b)
{
    return sc_first_cmp(g->ev_time[a], g->ev_id[a], g->ev_len[a], g->ev_time[b], g->ev_id[b],
                        g->ev_len[b]);
}

static int entity_cmp(const sc_graph *g, uint32_t a, uint32_t b)
{
    const known *x = &g->ent[a], *y = &g->ent[b];
    return sc_first_cmp(x->first_time, x->first_id, strlen(x->first_id), y->first_time, y->first_id,
                        strlen(y->first_id));
}

/* Batch event ev comes before known entity e's earliest event (a known one). */
static bool event_before_entity(const sc_graph *g, uint32_t ev, uint32_t e)
{
    const known *k = &g->ent[e];
    return *k->first_id && sc_first_cmp(g->ev_time[ev], g->ev_id[ev], g->ev_len[ev], k->first_time,
                                        k->first_id, strlen(k->first_id)) < 0;
}

static void consider_survivor(const sc_graph *g, component *k, uint32_t e)
{
    if (e != IDTAB_NONE && (k->survivor == IDTAB_NONE || entity_cmp(g, e, k->survivor) < 0))
        k->survivor = e;
}

/* The survivor must not depend on where batches begin and end. The queue
 * delivers events in (event_time, id) order, and stitched one at a time, a
 * component's earliest batch event m would come first: it would join only
 * the known entities its own identifiers (or its own entity) belong to, and
 * the earliest of those, now starting with m, would win every later merge;
 * with none, m would found a new entity that wins them all. So where m
 * precedes every known entity of its component (a late event: earlier than
 * the history it meets), the survivor is chosen among m's own known
 * entities only, or is a new entity from m. Otherwise no batch event can
 * change which known entity is earliest, and the earliest survives. */
static void choose_late_survivors(sc_graph *g)
{
    bool any = false;
    for (size_t c = 0; c < g->ncomps; c++) {
        component *k = &g->comps[c];
        k->late = k->survivor != IDTAB_NONE && k->min_event != IDTAB_NONE &&
                  event_before_entity(g, k->min_event, k->survivor);
        if (k->late) {
            k->survivor = IDTAB_NONE;
            consider_survivor(g, k, g->ev_ent[k->min_event]);
            any = true;
        }
    }
    for (size_t j = 0; any && j < g->nedges; j++) {
        const struct edge *d = &g->edges[j];
        component *k = &g->comps[g->ev_comp[d->ev]];
        if (k->late && k->min_event == d->ev)
            consider_survivor(g, k, g->id_ent[d->ident]);
    }
}

/* Choose each component's id and earliest event. */
static void name_component(sc_graph *g, component *k)
{
    uint32_t m = k->min_event;
    if (k->survivor == IDTAB_NONE) {
        char hex[33];
        entity_id_hex(g->ev_time[m], g->ev_id[m], g->ev_len[m], hex);
        k->id = arena_strndup(g->strings, hex, 32);
        k->first_time = g->ev_time[m];
        k->first_id = g->ev_id[m];
        return;
    }
    const known *s = &g->ent[k->survivor];
    k->id = idtab_str(g->entities, k->survivor);
    k->first_time = s->first_time;
    k->first_id = s->first_id;
    /* A late event earlier than the entity's first becomes its first; the id stays. */
    if (m != IDTAB_NONE && (!*s->first_id || event_before_entity(g, m, k->survivor))) {
        k->first_time = g->ev_time[m];
        k->first_id = g->ev_id[m];
        k->first_changed = true;
    }
}

void sc_resolve(sc_graph *g)
{
    uint32_t nodes = uf_count(g->sets);
    uint32_t *comp_of = xmalloc(((size_t)nodes + 1) * sizeof *comp_of);
    memset(comp_of, 0xff, ((size_t)nodes + 1) * sizeof *comp_of);
    size_t comps_cap = 0;

    uint32_t nev = g->nev;
    g->ev_comp = xmalloc(((size_t)nev + 1) * sizeof *g->ev_comp);
    for (uint32_t ev = 0; ev < nev; ev++) {
        uint32_t c = component_of(g, comp_of, &comps_cap, g->ev_node[ev]);
        g->ev_comp[ev] = c;
        if (g->comps[c].min_event == IDTAB_NONE || event_cmp(g, ev, g->comps[c].min_event) < 0)
            g->comps[c].min_event = ev;
    }
    uint32_t nent = idtab_count(g->entities);
    uint32_t *ent_comp = xmalloc(((size_t)nent + 1) * sizeof *ent_comp);
    for (uint32_t e = 0; e < nent; e++) {
        uint32_t c = component_of(g, comp_of, &comps_cap, g->ent[e].node);
        ent_comp[e] = c;
        consider_survivor(g, &g->comps[c], e);
    }
    uint32_t nid = idtab_count(g->idents);
    g->id_comp = xmalloc(((size_t)nid + 1) * sizeof *g->id_comp);
    for (uint32_t i = 0; i < nid; i++)
        g->id_comp[i] = component_of(g, comp_of, &comps_cap, g->id_node[i]);
    free(comp_of);

    choose_late_survivors(g);
    for (size_t c = 0; c < g->ncomps; c++)
        name_component(g, &g->comps[c]);

    /* Known entities that are not their component's survivor are merged away. */
    size_t merged_cap = 0;
    for (uint32_t e = 0; e < nent; e++) {
        if (g->comps[ent_comp[e]].survivor == e)
            continue;
        xgrow((void **)&g->merged, &merged_cap, g->nmerged + 1, sizeof *g->merged);
        g->merged[g->nmerged].entity = e;
        g->merged[g->nmerged].comp = ent_comp[e];
        g->nmerged++;
    }
    free(ent_comp);
}

uint32_t sc_event_count(const sc_graph *g)
{
    return g->nev;
}

const char *sc_event_id(const sc_graph *g, uint32_t ev)
{
    return g->ev_id[ev];
}

const char *sc_event_result(const sc_graph *g, uint32_t ev)
{
    return g->comps[g->ev_comp[ev]].id;
}

uint32_t sc_identifier_count(const sc_graph *g)
{
    return idtab_count(g->idents);
}

uint32_t sc_identifier_attr(const sc_graph *g, uint32_t ident)
{
    return idtab_tag(g->idents, ident);
}

const char *sc_identifier_value(const sc_graph *g, uint32_t ident, size_t *len)
{
    if (len)
        *len = idtab_len(g->idents, ident);
    return idtab_str(g->idents, ident);
}

bool sc_identifier_is_new(const sc_graph *g, uint32_t ident)
{
    return g->id_ent[ident] == IDTAB_NONE;
}

const char *sc_identifier_result(const sc_graph *g, uint32_t ident)
{
    return g->comps[g->id_comp[ident]].id;
}

size_t sc_merge_count(const sc_graph *g)
{
    return g->nmerged;
}

void sc_merge(const sc_graph *g, size_t k, const char **merged_id, const char **into_id)
{
    *merged_id = idtab_str(g->entities, g->merged[k].entity);
    *into_id = g->comps[g->merged[k].comp].id;
}

size_t sc_entity_count(const sc_graph *g)
{
    return g->ncomps;
}

void sc_entity(const sc_graph *g, size_t k, sc_entity_info *out)
{
    const component *c = &g->comps[k];
    out->id = c->id;
    out->first_time = c->first_time;
    out->first_id = c->first_id;
    out->is_new = c->survivor == IDTAB_NONE;
    out->first_changed = c->first_changed;
}

size_t sc_bytes(const sc_graph *g)
{
    return uf_bytes(g->sets) + idtab_bytes(g->idents) + idtab_bytes(g->entities) +
           arena_bytes(g->strings) +
           g->ev_cap * (sizeof(char *) + sizeof(int64_t) + sizeof(uint32_t) * 4) +
           g->id_cap * (sizeof(uint32_t) * 2) + g->edge_cap * sizeof(struct edge) +
           g->ncomps * sizeof(component);
}
