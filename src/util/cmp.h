/* cmp.h — qsort/bsearch comparators for arrays of plain integers, ascending. */
#ifndef SHOP_UTIL_CMP_H
#define SHOP_UTIL_CMP_H

/** Compares two int64_t. */
int cmp_i64(const void *a, const void *b);

/** Compares two uint32_t. */
int cmp_u32(const void *a, const void *b);

#endif
