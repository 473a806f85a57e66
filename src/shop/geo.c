#include "shop/geo.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

struct place {
    const char *code;
    double lat, lon;
};

/* Rough geographic centres of countries a shop most often ships to. */
static const struct place countries[] = {
    {"AE", 24.0, 54.0},   {"AR", -34.0, -64.0}, {"AT", 47.5, 14.5},   {"AU", -25.0, 134.0},
    {"BE", 50.6, 4.6},    {"BG", 42.7, 25.3},   {"BR", -10.0, -52.0}, {"CA", 56.0, -96.0},
    {"CH", 46.8, 8.2},    {"CL", -33.0, -71.0}, {"CN", 35.0, 103.0},  {"CO", 4.0, -73.0},
    {"CZ", 49.8, 15.5},   {"DE", 51.2, 10.4},   {"DK", 56.0, 10.0},   {"EE", 58.7, 25.5},
    {"EG", 26.8, 30.8},   {"ES", 40.2, -3.7},   {"FI", 64.0, 26.0},   {"FR", 46.6, 2.4},
    {"GB", 53.5, -2.0},   {"GR", 39.0, 22.0},   {"HK", 22.3, 114.2},  {"HR", 45.1, 15.2},
    {"HU", 47.2, 19.5},   {"ID", -2.5, 118.0},  {"IE", 53.2, -8.0},   {"IL", 31.4, 35.0},
    {"IN", 22.0, 79.0},   {"IS", 64.9, -18.6},  {"IT", 42.8, 12.6},   {"JP", 36.5, 138.0},
    {"KR", 36.5, 127.8},  {"LT", 55.2, 23.9},   {"LU", 49.8, 6.1},    {"LV", 56.9, 24.6},
    {"MX", 23.6, -102.5}, {"MY", 4.0, 109.5},   {"NG", 9.1, 8.7},     {"NL", 52.2, 5.3},
    {"NO", 61.0, 9.0},    {"NZ", -41.0, 174.0}, {"PE", -9.2, -75.0},  {"PH", 12.9, 121.8},
    {"PL", 52.0, 19.4},   {"PT", 39.6, -8.0},   {"RO", 45.9, 25.0},   {"SA", 24.0, 45.0},
    {"SE", 62.0, 15.0},   {"SG", 1.35, 103.8},  {"SI", 46.1, 14.9},   {"SK", 48.7, 19.7},
    {"TH", 15.9, 100.9},  {"TR", 39.0, 35.2},   {"TW", 23.7, 121.0},  {"UA", 49.0, 31.4},
    {"US", 39.8, -98.6},  {"VN", 16.0, 107.8},  {"ZA", -29.0, 24.7},
};

/* US ZIP codes by first digit: the centre of each USPS national area. */
static const struct place us_zip[10] = {
    {"0", 42.0, -71.8}, /* New England, New Jersey, Puerto Rico */
    {"1", 41.5, -76.0}, /* New York, Pennsylvania, Delaware */
    {"2", 37.0, -78.5}, /* DC, Maryland, Virginias, Carolinas */
    {"3", 32.0, -84.5}, /* Alabama, Florida, Georgia, Mississippi, Tennessee */
    {"4", 40.5, -84.5}, /* Indiana, Kentucky, Michigan, Ohio */
    {"5", 45.0, -96.0}, /* Iowa, Minnesota, Montana, Dakotas, Wisconsin */
    {"6", 39.5, -93.5}, /* Illinois, Kansas, Missouri, Nebraska */
    {"7", 32.0, -95.5}, /* Arkansas, Louisiana, Oklahoma, Texas */
    {"8", 39.0, -110.0}, /* the Mountain states */
    {"9", 40.0, -121.0}, /* California, Oregon, Washington, Alaska, Hawaii */
};

/* German PLZ by first digit (Leitzone): a large city of each zone. */
static const struct place de_plz[10] = {
    {"0", 51.2, 13.2}, {"1", 52.5, 13.4}, {"2", 53.6, 10.0}, {"3", 52.2, 9.8},
    {"4", 51.4, 7.0},  {"5", 50.7, 7.0},  {"6", 50.0, 8.5},  {"7", 48.7, 9.1},
    {"8", 48.2, 11.5}, {"9", 49.6, 11.0},
};

bool geo_locate(const char *country, const char *postal_code, struct geo_point *out)
{
    if (!country || strlen(country) != 2)
        return false;
    char cc[3] = {(char)toupper((unsigned char)country[0]),
                  (char)toupper((unsigned char)country[1]), 0};
    const char *p = postal_code ? postal_code : "";
    while (*p == ' ')
        p++;
    bool digit = *p >= '0' && *p <= '9';
    if (digit && !strcmp(cc, "US")) {
        *out = (struct geo_point){us_zip[*p - '0'].lat, us_zip[*p - '0'].lon};
        return true;
    }
    if (digit && !strcmp(cc, "DE")) {
        *out = (struct geo_point){de_plz[*p - '0'].lat, de_plz[*p - '0'].lon};
        return true;
    }
    for (size_t i = 0; i < sizeof countries / sizeof countries[0]; i++)
        if (!strcmp(countries[i].code, cc)) {
            *out = (struct geo_point){countries[i].lat, countries[i].lon};
            return true;
        }
    return false;
}

double geo_km(struct geo_point a, struct geo_point b)
{
    const double rad = 3.14159265358979323846 / 180.0, earth_km = 6371.0;
    double dlat = (b.lat - a.lat) * rad, dlon = (b.lon - a.lon) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(a.lat * rad) * cos(b.lat * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * earth_km * asin(sqrt(h < 1 ? h : 1));
}
