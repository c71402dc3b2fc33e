/*
 * gen_model — people, sessions and events of the sample CDP (see gen_model.h).
 *
 * Randomness is counter based: every decision draws from a splitmix64 stream
 * keyed by (seed, purpose, index), so any event can be computed on its own.
 *
 * People. Person p is a pure function of (seed, p): a class (one-off visitor,
 * casual, regular, heavy user) that sets their activity weight, a home
 * country, a name, and the identifiers they may show: 1-3 browser cookies
 * over time, an account (user id, sometimes a legacy id), an email, a phone,
 * 1-2 app devices. Events pick people in proportion to their weights through
 * an alias table, so a few heavy users have hundreds of events and many
 * visitors one short visit.
 *
 * Events. Indexes are cut into blocks of 1-16 (a boundary is a pure function
 * of the index). A block is a web, app or email session of one person, or a
 * batch of CRM records or store receipts of different people. Within a
 * session the events share the person, the cookie or device and the country;
 * their kinds follow the position (a landing page view first, then maybe a
 * sign-in, a purchase, a form). Payload JSON is written directly into the
 * event's buffer.
 *
 * Dirt, as in real tracking data: cookies of people who cleared them (never
 * seen again), "undefined" and "" cookie values, emails in mixed case, empty
 * strings, placeholder emails shared by strangers, phones in several formats,
 * store purchases without a loyalty phone.
 */
#include "gen_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

/* The splitmix64 finalizer: a bijection with good avalanche. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* What a random stream is for; each purpose has its own sequence per index. */
enum {
    S_PERSON = 1, /* a person's traits, by person */
    S_BOUNDARY,   /* does a block start here, by event */
    S_BLOCK,      /* a block's kind, person and session traits, by block start */
    S_EVENT,      /* an event's kind and payload, by event */
    S_RECORD,     /* the person of a CRM record or store receipt, by event */
    S_TIME,       /* an event's time jitter and load delay, by event */
    S_ID,         /* an event's id bits, by event */
    S_COOKIE,     /* a person's n-th cookie */
    S_DEVICE,     /* a person's n-th app device */
    S_ONEOFF,     /* a cookie used for one session only, by block start */
    S_PHONE,      /* the offset of phone numbers, once */
    S_MESSAGE,    /* a newsletter message id, by block start */
};

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    r->s += GOLDEN;
    return mix64(r->s);
}

/* Uniform in [0, n) for n < 2^32. */
static inline uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

static inline int rng_pct(rng *r)
{
    return (int)rng_below(r, 100);
}

/* True with probability k/1000. */
static inline int rng_permille(rng *r, uint32_t k)
{
    return rng_below(r, 1000) < k;
}

struct gen_model {
    gen_params p;
    uint64_t key;      /* the seed, mixed */
    uint64_t total;    /* sum of all activity weights */
    uint64_t *prob;    /* alias table: bucket j keeps j when coin < prob[j] ... */
    uint32_t *alias;   /* ... and otherwise gives alias[j] */
    uint32_t phone0;   /* offset of this population's phone numbers */
    int64_t switch_us; /* page_view 1-1-0 replaces 1-0-0 from here on */
};

static inline uint64_t hash(const gen_model *m, int stream, uint64_t i)
{
    return mix64(m->key ^ mix64(i ^ ((uint64_t)stream << 56)));
}

static inline rng rng_for(const gen_model *m, int stream, uint64_t i)
{
    rng r = {hash(m, stream, i)};
    return r;
}

/* ------------------------------------------------------------------------ */
/* The world: countries, names, devices, products, campaigns                */

typedef struct country {
    const char *code;
    const char *dial; /* country calling code, digits */
    const char *currency;
    const char *lang;
    int rate;  /* local currency units per 100 EUR */
    int whole; /* prices are rounded to whole units */
    int share; /* percent of people living there */
    const char *domains[4];
} country;

/* A table reads best laid out by hand. */
/* clang-format off */
static const country countries[] = {
    {"CZ", "420", "CZK", "cs", 2500, 1, 45, {"seznam.cz", "gmail.com", "email.cz", "centrum.cz"}},
    {"SK", "421", "EUR", "sk", 100, 0, 15, {"azet.sk", "gmail.com", "centrum.sk", "zoznam.sk"}},
    {"DE", "49", "EUR", "de", 100, 0, 10, {"gmx.de", "web.de", "gmail.com", "t-online.de"}},
    {"AT", "43", "EUR", "de", 100, 0, 5, {"gmx.at", "gmail.com", "aon.at", "outlook.com"}},
    {"PL", "48", "PLN", "pl", 430, 0, 10, {"wp.pl", "onet.pl", "gmail.com", "o2.pl"}},
    {"HU", "36", "HUF", "hu", 39000, 1, 5, {"freemail.hu", "gmail.com", "citromail.hu",
                                            "t-online.hu"}},
    {"GB", "44", "GBP", "en", 85, 0, 5, {"gmail.com", "outlook.com", "yahoo.co.uk",
                                         "btinternet.com"}},
    {"US", "1", "USD", "en", 108, 0, 5, {"gmail.com", "yahoo.com", "outlook.com", "icloud.com"}},
};
/* clang-format on */
#define NCOUNTRIES ((int)(sizeof countries / sizeof countries[0]))

typedef struct name {
    const char *display; /* as people write it */
    const char *ascii;   /* as it appears in email addresses */
} name;

static const name first_names[] = {
    {"Jan", "jan"},           {"Petr", "petr"},
    {"Tomáš", "tomas"},       {"Lucie", "lucie"},
    {"Kateřina", "katerina"}, {"Jana", "jana"},
    {"Martin", "martin"},     {"Eva", "eva"},
    {"Jiří", "jiri"},         {"Anna", "anna"},
    {"Lukáš", "lukas"},       {"Tereza", "tereza"},
    {"Michal", "michal"},     {"Zuzana", "zuzana"},
    {"Peter", "peter"},       {"Mária", "maria"},
    {"Thomas", "thomas"},     {"Julia", "julia"},
    {"Sophie", "sophie"},     {"Felix", "felix"},
    {"Piotr", "piotr"},       {"Agnieszka", "agnieszka"},
    {"Bence", "bence"},       {"Eszter", "eszter"},
    {"James", "james"},       {"Emily", "emily"},
    {"Oliver", "oliver"},     {"Olivia", "olivia"},
    {"John", "john"},         {"Sarah", "sarah"},
    {"Michael", "michael"},   {"Zoë", "zoe"},
};
#define NFIRST ((uint32_t)(sizeof first_names / sizeof first_names[0]))

static const name last_names[] = {
    {"Novák", "novak"},       {"Svoboda", "svoboda"},       {"Dvořák", "dvorak"},
    {"Černý", "cerny"},       {"Procházka", "prochazka"},   {"Kučera", "kucera"},
    {"Veselý", "vesely"},     {"Horváth", "horvath"},       {"Kováč", "kovac"},
    {"Müller", "mueller"},    {"Schmidt", "schmidt"},       {"Schneider", "schneider"},
    {"Fischer", "fischer"},   {"Weber", "weber"},           {"Nowak", "nowak"},
    {"Kowalski", "kowalski"}, {"Wiśniewski", "wisniewski"}, {"Nagy", "nagy"},
    {"Tóth", "toth"},         {"Szabó", "szabo"},           {"Smith", "smith"},
    {"Jones", "jones"},       {"Taylor", "taylor"},         {"Brown", "brown"},
    {"Williams", "williams"}, {"Johnson", "johnson"},       {"O'Brien", "obrien"},
    {"Doe", "doe"},
};
#define NLAST ((uint32_t)(sizeof last_names / sizeof last_names[0]))

/* Browsers, by share of cookies. */
typedef struct browser {
    const char *device_family;
    const char *os;
    const char *browser;
    int share;
} browser;

static const browser browsers[] = {
    {"iPhone", "iOS 17", "Mobile Safari", 24},
    {"Windows", "Windows 11", "Chrome", 18},
    {"Samsung Galaxy S23", "Android 14", "Samsung Internet", 12},
    {"Windows", "Windows 10", "Edge", 10},
    {"Mac", "macOS 14", "Safari", 10},
    {"Pixel 8", "Android 14", "Chrome Mobile", 8},
    {"Xiaomi Redmi Note 12", "Android 13", "Chrome Mobile", 7},
    {"Mac", "macOS 13", "Chrome", 5},
    {"iPad", "iPadOS 17", "Mobile Safari", 4},
    {"Linux", "Ubuntu 22.04", "Firefox", 2},
};
#define NBROWSERS ((int)(sizeof browsers / sizeof browsers[0]))

static const char *const android_phones[] = {"Samsung Galaxy S23", "Samsung Galaxy A54", "Pixel 8",
                                             "Xiaomi Redmi Note 12"};

typedef struct product {
    const char *id;
    const char *name;
    const char *slug;
    int price; /* EUR cents */
} product;

typedef struct category {
    const char *id;
    product items[4];
} category;

/* Categories by popularity. */
static const category categories[] = {
    {"shoes",
     {{"P1001", "Trail Running Shoes", "trail-running-shoes", 8990},
      {"P1002", "Leather Sneakers", "leather-sneakers", 10990},
      {"P1003", "Kids' Rain Boots", "kids-rain-boots", 3490},
      {"P1004", "Wool Slippers", "wool-slippers", 2990}}},
    {"clothing",
     {{"P1101", "Organic Cotton T-Shirt", "organic-cotton-t-shirt", 1990},
      {"P1102", "Slim Fit Jeans", "slim-fit-jeans", 5990},
      {"P1103", "Rain Jacket", "rain-jacket", 12900},
      {"P1104", "Merino Wool Socks", "merino-wool-socks", 1490}}},
    {"electronics",
     {{"P1201", "Wireless Earbuds", "wireless-earbuds", 7990},
      {"P1202", "Fitness Tracker", "fitness-tracker", 12990},
      {"P1203", "USB-C Charger 65W", "usb-c-charger-65w", 3490},
      {"P1204", "Bluetooth Speaker", "bluetooth-speaker", 5490}}},
    {"sports",
     {{"P1301", "Yoga Mat", "yoga-mat", 3990},
      {"P1302", "Adjustable Dumbbells", "adjustable-dumbbells", 14900},
      {"P1303", "Cycling Helmet", "cycling-helmet", 6990},
      {"P1304", "Hiking Backpack 30L", "hiking-backpack-30l", 7490}}},
    {"home",
     {{"P1401", "Ceramic Coffee Mug", "ceramic-coffee-mug", 1290},
      {"P1402", "French Press", "french-press", 2990},
      {"P1403", "Scented Candle", "scented-candle", 1590},
      {"P1404", "Linen Bed Set", "linen-bed-set", 8990}}},
    {"beauty",
     {{"P1501", "Face Moisturizer", "face-moisturizer", 2290},
      {"P1502", "Vitamin C Serum", "vitamin-c-serum", 2790},
      {"P1503", "Sunscreen SPF 50", "sunscreen-spf-50", 1690},
      {"P1504", "Hand Cream", "hand-cream", 890}}},
    {"books",
     {{"P1601", "Cookbook: Weeknight Dinners", "cookbook-weeknight-dinners", 2490},
      {"P1602", "Mystery Novel", "mystery-novel", 1390},
      {"P1603", "Travel Guide: Prague", "travel-guide-prague", 1890},
      {"P1604", "Gift Card", "gift-card", 2500}}},
};
#define NCATEGORIES ((uint32_t)(sizeof categories / sizeof categories[0]))

/* Where paid and organic visits come from, by share of landings. */
typedef struct utm {
    const char *source;
    const char *medium;
    const char *referrer;
    int share;
} utm;

static const utm utms[] = {
    {"google", "cpc", "https://www.google.com/", 35},
    {"facebook", "paid_social", "https://www.facebook.com/", 20},
    {"seznam", "cpc", "https://www.seznam.cz/", 15},
    {"instagram", "paid_social", "https://www.instagram.com/", 10},
    {"newsletter", "email", NULL, 8},
    {"tiktok", "paid_social", "https://www.tiktok.com/", 6},
    {"heureka", "referral", "https://www.heureka.cz/", 4},
    {"affiliate", "affiliate", "https://www.slevomat.cz/", 2},
};
#define NUTMS          ((int)(sizeof utms / sizeof utms[0]))
#define UTM_NEWSLETTER 4

/* Campaign themes by month (January first) and their email subjects. */
static const char *const themes[12] = {
    "brand",       "brand",       "spring_sale",    "spring_sale",    "spring_sale",  "summer_sale",
    "summer_sale", "summer_sale", "back_to_school", "new_collection", "black_friday", "christmas"};
static const char *const subjects[12] = {
    "New year, new you: our bestsellers",  "Love is in the details",
    "Spring sale: up to 30 % off",         "Spring sale: last pieces",
    "Spring sale ends on Sunday",          "Summer sale starts now",
    "Summer sale: extra 10 % in the app",  "Summer sale: final days",
    "Back to school essentials",           "The new collection is here",
    "Black Friday: our biggest discounts", "Christmas gifts for everyone"};

#define SHOP    "https://shop.example.com"
#define NSTORES 24

/* Placeholder emails typed by people who do not want to give theirs. */
static const char *const placeholder_emails[] = {"noemail@example.com", "test@test.com",
                                                 "NoEmail@example.com"};

/* ------------------------------------------------------------------------ */
/* People                                                                   */

enum { C_VISITOR, C_CASUAL, C_REGULAR, C_HEAVY };

typedef struct person {
    uint64_t id; /* 0-based */
    int cls;
    uint32_t weight; /* activity: relative share of sessions */
    int country;
    uint32_t first, last;
    int email_pattern, email_domain;
    int has_email, has_account, has_app, has_phone, has_legacy_id;
    int ncookies, ndevices, ios;
    int64_t cookie_phase, device_phase; /* when their cookies and devices change */
    uint32_t phone;                     /* national number, 9 digits */
    uint32_t fav_category;
    int home_store;
} person;

/*
 * The class and activity weight: the first draws of a person's stream, so the
 * alias table can be built without the rest. Heavy users follow a Pareto tail
 * (P(multiplier > k) = 1/k, capped at 20): dozens to hundreds of events.
 */
static uint32_t draw_weight(rng *r, int *cls)
{
    int x = rng_pct(r);
    uint32_t u = rng_below(r, 1u << 20);
    if (x < 45) {
        *cls = C_VISITOR;
        return 30;
    }
    if (x < 80) {
        *cls = C_CASUAL;
        return 50;
    }
    if (x < 96) {
        *cls = C_REGULAR;
        return 120;
    }
    uint32_t mult = (1u << 20) / (u + 1);
    *cls = C_HEAVY;
    return 120 * (mult > 20 ? 20 : mult);
}

static int pick_country(rng *r)
{
    int x = rng_pct(r);
    for (int c = 0; c < NCOUNTRIES; c++) {
        if (x < countries[c].share)
            return c;
        x -= countries[c].share;
    }
    return 0;
}

/* Person `id` of the population: a pure function of (seed, id). */
static void person_make(const gen_model *m, uint64_t id, person *p)
{
    static const int account_pct[] = {8, 45, 80, 95};
    static const int email_pct[] = {20, 30, 60, 80}; /* of those without an account */
    static const int app_pct[] = {5, 20, 40, 55};
    static const int phone_pct[] = {15, 40, 60, 75};
    rng r = rng_for(m, S_PERSON, id);
    p->id = id;
    p->weight = draw_weight(&r, &p->cls);
    p->country = pick_country(&r);
    p->first = rng_below(&r, NFIRST);
    p->last = rng_below(&r, NLAST);
    p->email_pattern = (int)rng_below(&r, 5);
    p->email_domain = (int)rng_below(&r, 4);
    p->has_account = rng_pct(&r) < account_pct[p->cls];
    p->has_email = rng_pct(&r) < email_pct[p->cls] || p->has_account;
    p->has_app = rng_pct(&r) < app_pct[p->cls];
    p->has_phone = rng_pct(&r) < phone_pct[p->cls];
    p->has_legacy_id = rng_pct(&r) < 30 && p->has_account;
    p->ncookies = p->cls == C_VISITOR ? 1 : 1 + (int)rng_below(&r, 3);
    p->cookie_phase = (int64_t)(rng_next(&r) % (uint64_t)(GEN_TIME_SPAN_US / p->ncookies));
    p->ndevices = rng_pct(&r) < 25 ? 2 : 1;
    p->device_phase = (int64_t)(rng_next(&r) % (uint64_t)(GEN_TIME_SPAN_US / p->ndevices));
    p->ios = rng_pct(&r) < 45;
    p->fav_category = rng_below(&r, NCATEGORIES);
    p->home_store = 1 + (int)rng_below(&r, NSTORES);
    /* unique within the population: 7919 is prime to the 2e8 numbers */
    p->phone = 600000000u + (uint32_t)((id * 7919 + m->phone0) % 200000000u);
}

/*
 * Build the alias table (Vose's method, in integers so every platform gets
 * the same table): bucket j holds j with weight prob[j] out of `total` and
 * alias[j] with the rest.
 */
static void build_alias(gen_model *m)
{
    uint64_t n = m->p.persons;
    uint64_t *scaled = xmalloc(n * sizeof *scaled);
    uint32_t *stack = xmalloc(n * sizeof *stack); /* small from the bottom, large from the top */
    m->prob = xmalloc(n * sizeof *m->prob);
    m->alias = xmalloc(n * sizeof *m->alias);
    m->total = 0;
    for (uint64_t j = 0; j < n; j++) {
        rng r = rng_for(m, S_PERSON, j);
        int cls;
        uint32_t w = draw_weight(&r, &cls);
        scaled[j] = (uint64_t)w * n;
        m->total += w;
    }
    uint64_t nsmall = 0, nlarge = 0;
    for (uint64_t j = 0; j < n; j++) {
        if (scaled[j] < m->total)
            stack[nsmall++] = (uint32_t)j;
        else
            stack[n - 1 - nlarge++] = (uint32_t)j;
    }
    while (nsmall > 0 && nlarge > 0) {
        uint32_t s = stack[--nsmall];
        uint32_t l = stack[n - nlarge];
        m->prob[s] = scaled[s];
        m->alias[s] = l;
        scaled[l] = scaled[l] + scaled[s] - m->total;
        if (scaled[l] < m->total) {
            nlarge--;
            stack[nsmall++] = l;
        }
    }
    while (nlarge > 0) {
        uint32_t l = stack[n - nlarge--];
        m->prob[l] = m->total;
        m->alias[l] = l;
    }
    while (nsmall > 0) { /* only rounding leftovers; none with integers, kept for safety */
        uint32_t s = stack[--nsmall];
        m->prob[s] = m->total;
        m->alias[s] = s;
    }
    free(scaled);
    free(stack);
}

/* A person, chosen in proportion to activity. */
static uint64_t sample_person(const gen_model *m, rng *r)
{
    uint64_t j = ((rng_next(r) >> 32) * m->p.persons) >> 32;
    uint64_t coin = rng_next(r) % m->total;
    return coin < m->prob[j] ? j : m->alias[j];
}

uint64_t gen_default_persons(uint64_t events)
{
    uint64_t p = (events + GEN_EVENTS_PER_PERSON - 1) / GEN_EVENTS_PER_PERSON;
    return p ? p : 1;
}

int64_t gen_default_step_us(uint64_t persons)
{
    int64_t step = GEN_TIME_SPAN_US / (int64_t)(persons * GEN_EVENTS_PER_PERSON);
    return step > 0 ? step : 1;
}

gen_model *gen_model_new(const gen_params *params)
{
    gen_model *m = xcalloc(1, sizeof *m);
    m->p = *params;
    m->key = mix64(params->seed ^ UINT64_C(0x43505347454E0001)); /* "CPSGEN" */
    m->phone0 = (uint32_t)(hash(m, S_PHONE, 0) % 200000000u);
    m->switch_us = GEN_TIME_ORIGIN_US + GEN_TIME_SPAN_US / 2;
    build_alias(m);
    return m;
}

void gen_model_free(gen_model *m)
{
    if (!m)
        return;
    free(m->prob);
    free(m->alias);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Text helpers                                                             */

static const char hexdigits[] = "0123456789abcdef";

static void put_hex(char *out, uint64_t v, int digits, int upper)
{
    for (int k = digits - 1; k >= 0; k--) {
        char c = hexdigits[v & 15];
        out[k] = upper && c >= 'a' ? (char)(c - 32) : c;
        v >>= 4;
    }
}

/* 8-4-4-4-12 hex form of 128 bits. */
static void format_uuid(char *out, uint64_t hi, uint64_t lo, int upper)
{
    put_hex(out, hi >> 32, 8, upper);
    out[8] = '-';
    put_hex(out + 9, hi >> 16, 4, upper);
    out[13] = '-';
    put_hex(out + 14, hi, 4, upper);
    out[18] = '-';
    put_hex(out + 19, lo >> 48, 4, upper);
    out[23] = '-';
    put_hex(out + 24, lo, 12, upper);
    out[36] = '\0';
}

/* A random (version 4) UUID from a hash. */
static void uuid4(char *out, uint64_t h, int upper)
{
    uint64_t lo = mix64(h + GOLDEN);
    format_uuid(out, (h & ~UINT64_C(0xF000)) | 0x4000,
                (lo & ~(UINT64_C(3) << 62)) | (UINT64_C(2) << 62), upper);
}

/* A time-ordered (version 7) UUID: milliseconds first, then random bits. */
static void uuid7(char *out, int64_t ms, uint64_t h)
{
    uint64_t hi = ((uint64_t)ms << 16) | 0x7000 | (h >> 52);
    uint64_t lo = mix64(h);
    format_uuid(out, hi, (lo & ~(UINT64_C(3) << 62)) | (UINT64_C(2) << 62), 0);
}

static size_t put_uint(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t k = 0; k < n; k++)
        out[k] = tmp[n - 1 - k];
    out[n] = '\0';
    return n;
}

static void put2(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10 % 10);
    out[1] = (char)('0' + v % 10);
}

/* Civil date of a day number (days since 1970-01-01), H. Hinnant's algorithm. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *mo, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *mo = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*mo <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

size_t gen_format_time(char *buf, int64_t us)
{
    int64_t days = floor_div(us, INT64_C(86400000000));
    int64_t rest = us - days * INT64_C(86400000000);
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned secs = (unsigned)(rest / 1000000), ms = (unsigned)(rest / 1000 % 1000);
    put2(buf, (unsigned)(y / 100));
    put2(buf + 2, (unsigned)(y % 100));
    buf[4] = '-';
    put2(buf + 5, mo);
    buf[7] = '-';
    put2(buf + 8, d);
    buf[10] = ' ';
    put2(buf + 11, secs / 3600);
    buf[13] = ':';
    put2(buf + 14, secs / 60 % 60);
    buf[16] = ':';
    put2(buf + 17, secs % 60);
    buf[19] = '.';
    buf[20] = (char)('0' + ms / 100);
    put2(buf + 21, ms % 100);
    buf[23] = '\0';
    return 23;
}

/* Year and month (1-12) of a time. */
static void year_month(int64_t us, int64_t *y, unsigned *mo)
{
    unsigned d;
    civil_from_days(floor_div(us, INT64_C(86400000000)), y, mo, &d);
}

/* ------------------------------------------------------------------------ */
/* A small JSON writer                                                      */

typedef struct jw {
    strbuf *sb;
    int n; /* members written */
} jw;

static void json_quote(strbuf *sb, const char *s, size_t n)
{
    sb_appendc(sb, '"');
    size_t from = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        sb_appendn(sb, s + from, k - from);
        char esc[8] = {'\\', (char)c, 0};
        if (c < 0x20) {
            esc[1] = 'u';
            memcpy(esc + 2, "00", 2);
            esc[4] = hexdigits[c >> 4];
            esc[5] = hexdigits[c & 15];
            sb_appendn(sb, esc, 6);
        } else
            sb_appendn(sb, esc, 2);
        from = k + 1;
    }
    sb_appendn(sb, s + from, n - from);
    sb_appendc(sb, '"');
}

static void jw_key(jw *w, const char *key)
{
    sb_appendc(w->sb, w->n++ ? ',' : '{');
    sb_appendc(w->sb, '"');
    sb_append(w->sb, key);
    sb_appendn(w->sb, "\":", 2);
}

static void jw_strn(jw *w, const char *key, const char *s, size_t n)
{
    jw_key(w, key);
    json_quote(w->sb, s, n);
}

static void jw_str(jw *w, const char *key, const char *s)
{
    jw_strn(w, key, s, strlen(s));
}

/* A member whose value is JSON text already (numbers, true, arrays). */
static void jw_raw(jw *w, const char *key, const char *json)
{
    jw_key(w, key);
    sb_append(w->sb, json);
}

static void jw_close(jw *w)
{
    if (!w->n)
        sb_appendc(w->sb, '{');
    sb_appendc(w->sb, '}');
}

/* Money as decimal text with two places: 4990 -> "49.90". */
static size_t format_money(char *out, int64_t cents)
{
    size_t n = put_uint(out, (uint64_t)(cents / 100));
    out[n] = '.';
    put2(out + n + 1, (unsigned)(cents % 100));
    out[n + 3] = '\0';
    return n + 3;
}

/* ------------------------------------------------------------------------ */
/* Blocks: sessions and batches                                             */

enum { B_WEB, B_APP, B_EMAIL, B_CRM, B_POS };
#define BLOCK_MAX 16

typedef struct block {
    uint64_t start;
    int kind;
    person who;       /* sessions: the person */
    int country;      /* sessions: where they are (mostly at home) */
    int logged_in;    /* web and app sessions: remembered login */
    int fresh_cookie; /* a cookie never seen again: cleared, private window */
    int landing;      /* web: utm index of the landing page, -1 for a direct visit */
} block;

/* The first index of the block holding i: scan back to a boundary. */
static uint64_t block_start(const gen_model *m, uint64_t i)
{
    while (i % BLOCK_MAX != 0 && hash(m, S_BOUNDARY, i) % 100 >= 40)
        i--;
    return i;
}

static int pick_utm(rng *r)
{
    int x = rng_pct(r);
    for (int u = 0; u < NUTMS; u++) {
        if (x < utms[u].share)
            return u;
        x -= utms[u].share;
    }
    return 0;
}

/*
 * The block starting at s. A session needs a person who can have it (an app
 * user, a subscriber): up to eight people are drawn; if none fits, it is a web
 * session of the last one.
 */
static void block_make(const gen_model *m, uint64_t s, block *b)
{
    rng r = rng_for(m, S_BLOCK, s);
    int x = rng_pct(&r);
    memset(b, 0, sizeof *b);
    b->start = s;
    b->kind = x < 55 ? B_WEB : x < 73 ? B_APP : x < 85 ? B_EMAIL : x < 90 ? B_CRM : B_POS;
    if (b->kind == B_CRM || b->kind == B_POS)
        return;
    int fits = 0;
    for (int tries = 0; tries < 8 && !fits; tries++) {
        person_make(m, sample_person(m, &r), &b->who);
        fits = b->kind == B_WEB || (b->kind == B_APP && b->who.has_app) ||
               (b->kind == B_EMAIL && b->who.has_email);
    }
    if (!fits)
        b->kind = B_WEB;
    int abroad = rng_pct(&r) < 6;
    int elsewhere = (int)rng_below(&r, NCOUNTRIES);
    b->country = abroad ? elsewhere : b->who.country;
    b->logged_in = b->who.has_account && rng_pct(&r) < 55;
    b->fresh_cookie = rng_permille(&r, 30);
    int campaign = rng_pct(&r) < 40;
    int u = pick_utm(&r);
    b->landing = b->kind == B_EMAIL ? UTM_NEWSLETTER : campaign ? u : -1;
}

/* The person of a CRM record (someone with an account, if eight draws find
 * one) or of a store receipt (loyalty members, with a phone, shop more). */
static void record_person(const gen_model *m, const block *b, uint64_t i, person *p)
{
    rng r = rng_for(m, S_RECORD, i);
    int crm = b->kind == B_CRM;
    for (int t = 0; t < (crm ? 8 : 2); t++) {
        person_make(m, sample_person(m, &r), p);
        if (crm ? p->has_account : p->has_phone)
            break;
    }
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

/* What one event's payload writers need. */
typedef struct ectx {
    const gen_model *m;
    const block *b;
    const person *who;
    uint64_t i;
    int64_t t;   /* event time */
    int country; /* index into countries */
    rng r;       /* this event's random numbers */
    jw w;
} ectx;

static gen_event_kind page_view_kind(const ectx *e)
{
    return e->t < e->m->switch_us ? EV_PAGE_VIEW : EV_PAGE_VIEW_V11;
}

/* The kind of a web event at position k of the web part of a session. */
static gen_event_kind web_kind(ectx *e, uint64_t k)
{
    if (k == 0)
        return page_view_kind(e);
    int x = rng_pct(&e->r);
    if (e->b->logged_in && x < (k == 1 ? 30 : 3))
        return EV_WEB_SIGNIN;
    if (x >= 30 && x < 36 && (e->b->logged_in || e->who->has_email))
        return EV_PURCHASE;
    if (x >= 36 && x < 39 && e->who->has_email)
        return EV_FORM_SUBMITTED;
    return page_view_kind(e);
}

static gen_event_kind choose_kind(ectx *e, uint64_t k)
{
    int x;
    switch (e->b->kind) {
    case B_APP:
        if (k == 0)
            return EV_APP_OPEN;
        x = rng_pct(&e->r);
        if (e->who->has_account && x < (k == 1 ? 25 : 4))
            return EV_APP_SIGNIN;
        if (e->who->has_account && x >= 30 && x < 37)
            return EV_APP_PURCHASE;
        return EV_APP_OPEN;
    case B_EMAIL:
        if (k == 0)
            return EV_EMAIL_OPENED;
        if (k == 1)
            return rng_pct(&e->r) < 80 ? EV_EMAIL_CLICKED : EV_EMAIL_OPENED;
        return web_kind(e, k - 2);
    case B_CRM:
        return EV_CUSTOMER_UPDATED;
    case B_POS:
        return EV_POS_PURCHASE;
    default:
        return web_kind(e, k);
    }
}

static void put_user_id(ectx *e, const char *key)
{
    char buf[24];
    if (rng_permille(&e->r, 3)) { /* a loader that sends "" for "unknown" */
        jw_str(&e->w, key, "");
        return;
    }
    put_uint(buf, 1000000 + e->who->id);
    jw_str(&e->w, key, buf);
}

/* The person's email, lower case, into out (128 bytes); returns the length.
 * Unique per person: the person number at the end of the local part tells
 * them apart. */
static size_t email_of(const person *p, char *out)
{
    const char *f = first_names[p->first].ascii, *l = last_names[p->last].ascii;
    const char *dom = countries[p->country].domains[p->email_domain];
    unsigned long long n = p->id + 1;
    int len;
    switch (p->email_pattern) {
    case 0:
        len = snprintf(out, 128, "%s.%s%llu@%s", f, l, n, dom);
        break;
    case 1:
        len = snprintf(out, 128, "%c%s%llu@%s", f[0], l, n, dom);
        break;
    case 2:
        len = snprintf(out, 128, "%s_%s%llu@%s", f, l, n, dom);
        break;
    case 3:
        len = snprintf(out, 128, "%s.%s%llu@%s", l, f, n, dom);
        break;
    default:
        len = snprintf(out, 128, "%s%llu@%s", f, n, dom);
        break;
    }
    return len > 0 ? (size_t)len : 0;
}

/* People type their address in many ways: John.Doe@Example.com, JOHN.DOE@... */
static void vary_case(char *s, int variant)
{
    int cap = 1, domain = 0;
    for (char *c = s; *c; c++) {
        if (variant == 3) {
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
            continue;
        }
        if (*c == '@') {
            if (variant == 2)
                return;
            cap = 1;
            domain = 1;
            continue;
        }
        if (*c == '.' || *c == '_') {
            cap = !domain;
            continue;
        }
        if (cap && *c >= 'a' && *c <= 'z')
            *c = (char)(*c - 32);
        cap = 0;
    }
}

/* The person's email as this event carries it. typed: entered in a form, so
 * sometimes a placeholder or nothing at all. */
static void put_email(ectx *e, int typed)
{
    if (typed && rng_permille(&e->r, 6)) {
        jw_str(&e->w, "email", placeholder_emails[rng_below(&e->r, 3)]);
        return;
    }
    if (typed && rng_permille(&e->r, 5)) {
        jw_str(&e->w, "email", "");
        return;
    }
    char buf[128];
    size_t n = email_of(e->who, buf);
    int x = rng_pct(&e->r);
    if (x >= 65)
        vary_case(buf, x < 80 ? 2 : x < 95 ? 1 : 3);
    jw_strn(&e->w, "email", buf, n);
}

/* The phone in one of the formats people and systems use. */
static void put_phone(ectx *e, uint32_t empty_permille)
{
    if (rng_permille(&e->r, empty_permille)) {
        jw_str(&e->w, "phone", "");
        return;
    }
    const char *dial = countries[e->who->country].dial;
    unsigned a = e->who->phone / 1000000, b = e->who->phone / 1000 % 1000, c = e->who->phone % 1000;
    char buf[40];
    switch (rng_below(&e->r, 5)) {
    case 0:
        snprintf(buf, sizeof buf, "+%s %03u %03u %03u", dial, a, b, c);
        break;
    case 1:
        snprintf(buf, sizeof buf, "00%s%03u%03u%03u", dial, a, b, c);
        break;
    case 2:
        snprintf(buf, sizeof buf, "%03u-%03u-%03u", a, b, c);
        break;
    case 3:
        snprintf(buf, sizeof buf, "%03u%03u%03u", a, b, c);
        break;
    default:
        snprintf(buf, sizeof buf, "+%s%03u%03u%03u", dial, a, b, c);
        break;
    }
    jw_str(&e->w, "phone", buf);
}

/* The browser cookie of this web event: the person's cookie of the time, a
 * one-session cookie, or junk a broken tag sends. Returns the browser. */
static const browser *put_cookie(ectx *e)
{
    uint64_t h;
    if (e->b->fresh_cookie)
        h = hash(e->m, S_ONEOFF, e->b->start);
    else {
        const person *p = e->who;
        uint64_t epoch = (uint64_t)((e->t - e->m->p.origin_us + p->cookie_phase) /
                                    (GEN_TIME_SPAN_US / p->ncookies));
        h = hash(e->m, S_COOKIE, mix64(p->id) ^ epoch);
    }
    int x = (int)(mix64(h) % 100);
    const browser *br = &browsers[0];
    for (int k = 0; k < NBROWSERS; k++) {
        if (x < browsers[k].share) {
            br = &browsers[k];
            break;
        }
        x -= browsers[k].share;
    }
    if (rng_below(&e->r, 2000) == 0)
        jw_str(&e->w, "cookie_id", "undefined");
    else if (rng_permille(&e->r, 2))
        jw_str(&e->w, "cookie_id", "");
    else {
        char id[37];
        uuid4(id, h, 0);
        jw_strn(&e->w, "cookie_id", id, 36);
    }
    return br;
}

static void put_browser(ectx *e, const browser *br)
{
    jw_str(&e->w, "device_family", br->device_family);
    jw_str(&e->w, "os", br->os);
    jw_str(&e->w, "browser", br->browser);
}

static void put_country(ectx *e)
{
    jw_str(&e->w, "country", countries[e->country].code);
}

/* A product: half the time from the person's favourite category. */
static const product *pick_product(ectx *e, uint32_t *cat)
{
    uint32_t c = e->who->fav_category;
    if (rng_pct(&e->r) >= 50) {
        uint32_t u = rng_below(&e->r, 1000);
        c = (u * u / 1000) * NCATEGORIES / 1000; /* popular categories first */
    }
    *cat = c;
    return &categories[c].items[rng_below(&e->r, 4)];
}

/* "products": [...], then "amount" and "currency"; amounts in local money. */
static void put_basket(ectx *e, int amount_as_text)
{
    const country *cn = &countries[e->country];
    int x = rng_pct(&e->r);
    int lines = x < 60 ? 1 : x < 85 ? 2 : x < 95 ? 3 : 4;
    int64_t total = 0;
    char num[32];
    const product *seen[4];
    int nseen = 0;
    jw_key(&e->w, "products");
    sb_appendc(e->w.sb, '[');
    for (int k = 0; k < lines; k++) {
        uint32_t cat;
        const product *pr = pick_product(e, &cat);
        int q = rng_pct(&e->r);
        int qty = q < 80 ? 1 : q < 95 ? 2 : 3;
        int again = 0;
        for (int s = 0; s < nseen; s++)
            again |= seen[s] == pr;
        if (again) /* one line per product */
            continue;
        seen[nseen++] = pr;
        int64_t price = (int64_t)pr->price * cn->rate / 100;
        if (cn->whole)
            price = (price + 50) / 100 * 100;
        total += price * qty;
        jw item = {e->w.sb, 0};
        if (nseen > 1)
            sb_appendc(e->w.sb, ',');
        jw_str(&item, "id", pr->id);
        jw_str(&item, "name", pr->name);
        jw_str(&item, "category", categories[cat].id);
        format_money(num, price);
        jw_raw(&item, "price", num);
        put_uint(num, (uint64_t)qty);
        jw_raw(&item, "quantity", num);
        jw_close(&item);
    }
    sb_appendc(e->w.sb, ']');
    format_money(num, total);
    if (amount_as_text)
        jw_str(&e->w, "amount", num);
    else
        jw_raw(&e->w, "amount", num);
    jw_str(&e->w, "currency", cn->currency);
}

static void put_order_id(ectx *e, const char *key, const char *prefix)
{
    char buf[40];
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    put_uint(buf + n, 10000000 + e->i);
    jw_str(&e->w, key, buf);
}

static void campaign_name(const ectx *e, int newsletter, char *out, size_t n)
{
    int64_t y;
    unsigned mo;
    year_month(e->t, &y, &mo);
    if (newsletter)
        snprintf(out, n, "newsletter_%04lld_%02u", (long long)y, mo);
    else
        snprintf(out, n, "%s_%04lld", themes[mo - 1], (long long)y);
}

/* A page of the shop; product pages are the most visited. */
static void put_url(ectx *e)
{
    char buf[160];
    int x = rng_pct(&e->r);
    uint32_t cat;
    if (x < 20)
        jw_str(&e->w, "url", SHOP "/");
    else if (x < 45) {
        pick_product(e, &cat);
        snprintf(buf, sizeof buf, SHOP "/c/%s", categories[cat].id);
        jw_str(&e->w, "url", buf);
    } else if (x < 85) {
        const product *pr = pick_product(e, &cat);
        snprintf(buf, sizeof buf, SHOP "/p/%s-%s", pr->id, pr->slug);
        jw_str(&e->w, "url", buf);
    } else if (x < 92)
        jw_str(&e->w, "url", SHOP "/cart");
    else if (x < 96)
        jw_str(&e->w, "url", SHOP "/account");
    else
        jw_str(&e->w, "url", SHOP "/blog/how-to-choose-running-shoes");
}

/* The fields every web event has: cookie, page, browser, country, language;
 * the landing page of a campaign visit also has referrer and utm_*. */
static void put_web(ectx *e, int landing, const char *url)
{
    const browser *br = put_cookie(e);
    if (url)
        jw_str(&e->w, "url", url);
    else
        put_url(e);
    put_browser(e, br);
    put_country(e);
    jw_str(&e->w, "language", countries[e->country].lang);
    if (landing && e->b->landing >= 0) {
        const utm *u = &utms[e->b->landing];
        char campaign[64];
        campaign_name(e, e->b->landing == UTM_NEWSLETTER, campaign, sizeof campaign);
        if (u->referrer)
            jw_str(&e->w, "referrer", u->referrer);
        jw_str(&e->w, "utm_source", u->source);
        jw_str(&e->w, "utm_medium", u->medium);
        jw_str(&e->w, "utm_campaign", campaign);
    }
}

/* The app device of this time, and the fields every app event has. */
static void put_app(ectx *e)
{
    const person *p = e->who;
    uint64_t epoch =
        (uint64_t)((e->t - e->m->p.origin_us + p->device_phase) / (GEN_TIME_SPAN_US / p->ndevices));
    uint64_t h = hash(e->m, S_DEVICE, mix64(p->id) ^ epoch);
    char id[37];
    if (p->ios) {
        uuid4(id, h, 1);
        jw_strn(&e->w, "device_id", id, 36);
    } else {
        put_hex(id, h, 16, 0);
        jw_strn(&e->w, "device_id", id, 16);
    }
    jw_str(&e->w, "platform", p->ios ? "iOS" : "Android");
    jw_str(&e->w, "device_family", p->ios ? "iPhone" : android_phones[mix64(h) % 4]);
    /* a release every two months */
    int64_t months = (e->t - GEN_TIME_ORIGIN_US) / (INT64_C(61) * 86400 * 1000000);
    char version[32];
    snprintf(version, sizeof version, "4.%lld.%u", (long long)(months > 0 ? months : 0),
             (unsigned)(h % 3));
    jw_str(&e->w, "app_version", version);
    put_country(e);
}

static void write_payload(ectx *e, gen_event_kind kind, uint64_t k)
{
    const person *p = e->who;
    char buf[160];
    switch (kind) {
    case EV_PAGE_VIEW:
    case EV_PAGE_VIEW_V11: {
        uint64_t web_k = e->b->kind == B_EMAIL ? k - 2 : k;
        put_web(e, web_k == 0, NULL);
        if (kind == EV_PAGE_VIEW_V11 && e->b->logged_in)
            put_user_id(e, "user_id");
        break;
    }
    case EV_WEB_SIGNIN:
        put_web(e, 0, SHOP "/login");
        put_user_id(e, "user_id");
        put_email(e, 0);
        jw_str(&e->w, "login_method", rng_pct(&e->r) < 80 ? "password" : "google");
        break;
    case EV_PURCHASE:
        put_web(e, 0, SHOP "/checkout/thank-you");
        if (e->b->logged_in)
            put_user_id(e, "user_id");
        else
            put_email(e, 1); /* guest checkout */
        put_order_id(e, "order_id", "WEB-");
        put_basket(e, 0);
        jw_str(&e->w, "payment_method", rng_pct(&e->r) < 70 ? "card" : "bank_transfer");
        jw_str(&e->w, "shipping", rng_pct(&e->r) < 60 ? "courier" : "pickup_point");
        break;
    case EV_FORM_SUBMITTED: {
        int x = rng_pct(&e->r);
        const char *form = x < 60 ? "newsletter_signup" : x < 85 ? "contact" : "competition";
        snprintf(buf, sizeof buf, SHOP "/forms/%s", form);
        put_web(e, 0, buf);
        jw_str(&e->w, "form_id", form);
        put_email(e, 1);
        if (p->has_phone && rng_pct(&e->r) < 30)
            put_phone(e, 10);
        jw_raw(&e->w, "consent", rng_pct(&e->r) < 90 ? "true" : "false");
        break;
    }
    case EV_APP_OPEN:
        put_app(e);
        jw_raw(&e->w, "push_enabled", rng_pct(&e->r) < 60 ? "true" : "false");
        break;
    case EV_APP_SIGNIN: {
        put_app(e);
        put_user_id(e, "user_id");
        /* every user id this app install has known: current first, then legacy */
        jw_key(&e->w, "inbound_user_ids");
        sb_appendc(e->w.sb, '[');
        put_uint(buf, 1000000 + p->id);
        json_quote(e->w.sb, buf, strlen(buf));
        if (p->has_legacy_id) {
            snprintf(buf, sizeof buf, "LEG-%06llx", (unsigned long long)(p->id * 40503 + 17));
            sb_appendc(e->w.sb, ',');
            json_quote(e->w.sb, buf, strlen(buf));
        }
        if (rng_permille(&e->r, 10))
            sb_appendn(e->w.sb, ",\"\"", 3);
        sb_appendc(e->w.sb, ']');
        jw_str(&e->w, "login_method", rng_pct(&e->r) < 60 ? "biometric" : "password");
        break;
    }
    case EV_APP_PURCHASE:
        put_app(e);
        put_user_id(e, "user_id");
        put_order_id(e, "order_id", "APP-");
        put_basket(e, 0);
        jw_str(&e->w, "payment_method",
               rng_pct(&e->r) < 60 ? (p->ios ? "apple_pay" : "google_pay") : "card");
        break;
    case EV_CUSTOMER_UPDATED: {
        if (p->has_account)
            put_user_id(e, "user_id");
        if (p->has_email)
            put_email(e, 1);
        if (p->has_phone)
            put_phone(e, 20);
        jw_str(&e->w, "first_name", first_names[p->first].display);
        jw_str(&e->w, "last_name", last_names[p->last].display);
        put_country(e);
        jw_raw(&e->w, "marketing_consent", rng_pct(&e->r) < 70 ? "true" : "false");
        static const char *const tiers[] = {"none", "silver", "gold", "platinum"};
        jw_str(&e->w, "loyalty_tier", tiers[p->cls]);
        static const char *const changes[] = {"[\"email\"]", "[\"phone\"]", "[\"address\"]",
                                              "[\"email\",\"phone\"]", "[\"marketing_consent\"]"};
        jw_raw(&e->w, "updated_fields", changes[rng_below(&e->r, 5)]);
        break;
    }
    case EV_POS_PURCHASE: {
        int store = rng_pct(&e->r) < 75 ? p->home_store : 1 + (int)rng_below(&e->r, NSTORES);
        snprintf(buf, sizeof buf, "S%02d", store);
        jw_str(&e->w, "store_id", buf);
        snprintf(buf, sizeof buf, "R%02d-", store);
        put_order_id(e, "receipt_id", buf);
        if (p->has_phone && rng_pct(&e->r) < 90) /* loyalty card; otherwise anonymous */
            put_phone(e, 5);
        put_basket(e, 1);
        jw_str(&e->w, "payment_method", rng_pct(&e->r) < 70 ? "card" : "cash");
        put_country(e);
        break;
    }
    case EV_EMAIL_OPENED:
    case EV_EMAIL_CLICKED: {
        int64_t y;
        unsigned mo;
        year_month(e->t, &y, &mo);
        put_email(e, 0);
        campaign_name(e, 1, buf, sizeof buf);
        jw_str(&e->w, "campaign", buf);
        jw_str(&e->w, "subject", subjects[mo - 1]);
        char id[20];
        put_hex(id, hash(e->m, S_MESSAGE, e->b->start), 16, 0);
        jw_strn(&e->w, "message_id", id, 16);
        if (kind == EV_EMAIL_CLICKED) {
            char link[512];
            uint32_t cat;
            const product *pr = pick_product(e, &cat);
            snprintf(link, sizeof link,
                     SHOP "/p/%s-%s?utm_source=newsletter&utm_medium=email&utm_campaign=%s", pr->id,
                     pr->slug, buf);
            jw_str(&e->w, "link", link);
        }
        break;
    }
    case EV_COUNT:
        break;
    }
    jw_close(&e->w);
}

void gen_event_make(const gen_model *m, uint64_t i, gen_event *ev, int want_payload)
{
    block b;
    block_make(m, block_start(m, i), &b);
    person record;
    const person *who = &b.who;
    if (b.kind == B_CRM || b.kind == B_POS) {
        record_person(m, &b, i, &record);
        who = &record;
    }

    /* somewhere in this index's time slot, in whole milliseconds; stored by
     * the loader 5 s to 10 min later */
    uint64_t h = hash(m, S_TIME, i);
    int64_t t = m->p.origin_us + (int64_t)i * m->p.step_us + (int64_t)(h % (uint64_t)m->p.step_us);
    t -= t % 1000;
    ev->time_us = t;
    ev->created_us = t + 5000000 + (int64_t)(mix64(h) % 595000) * 1000;
    uuid7(ev->id, t / 1000, hash(m, S_ID, i));
    ev->person_id = who->id + 1;
    if (!want_payload)
        return;

    sb_reset(&ev->payload);
    ectx e = {.m = m, .b = &b, .who = who, .i = i, .t = t, .r = rng_for(m, S_EVENT, i)};
    e.country = (b.kind == B_CRM || b.kind == B_POS) ? who->country : b.country;
    e.w.sb = &ev->payload;
    uint64_t k = i - b.start;
    ev->kind = choose_kind(&e, k);
    write_payload(&e, ev->kind, k);
}

void gen_event_free(gen_event *ev)
{
    sb_free(&ev->payload);
}
