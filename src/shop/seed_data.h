/* seed_data.h — word lists for the demo shop (seed_data.c). */
#ifndef SHOP_SHOP_SEED_DATA_H
#define SHOP_SHOP_SEED_DATA_H

/** How a leaf's variants differ. */
enum seed_kind {
    SEED_NONE,
    SEED_COLOR,
    SEED_STORAGE,
    SEED_SIZE_SCREEN,
    SEED_SIZE_PIECES,
    SEED_SIZE_BED,
    SEED_SIZE_RUG,
    SEED_APPAREL,
    SEED_SHOES,
    SEED_WEIGHT,
    SEED_SIZE_TENT,
    SEED_SIZE_FRAME,
    SEED_FORMAT,
    SEED_VOLUME,
    SEED_SIZE_HOSE,
    SEED_KIND_COUNT
};

struct seed_leaf {
    const char *name, *noun;
    enum seed_kind kind;
    int lo_cents, hi_cents; /* price range of the base variant */
};

struct seed_sub {
    const char *name;
    const struct seed_leaf *leaves;
    int nleaves;
};

struct seed_top {
    const char *name;
    const struct seed_sub *subs;
    int nsubs;
};

extern const struct seed_top seed_taxonomy[];
extern const int seed_taxonomy_count;
extern const char *const seed_brands[];
extern const int seed_brands_count;
extern const char *const seed_adjectives[];
extern const int seed_adjectives_count;
extern const char *const seed_features[];
extern const int seed_features_count;
extern const char *const seed_uses[];
extern const int seed_uses_count;
extern const char *const seed_colors[];
extern const int seed_colors_count;

#endif
