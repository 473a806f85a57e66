/* seed_data.c — the word lists behind `shopd seed`: a category taxonomy
 * with nouns, variant options and price ranges per leaf, brands, adjectives
 * and description phrases. Data only; seed.c turns it into a shop.
 */
#include "shop/seed_data.h"

#define LEAF(name, noun, kind, lo, hi) {name, noun, kind, lo, hi}

static const struct seed_leaf electronics_audio[] = {
    LEAF("Headphones", "Headphones", SEED_COLOR, 1999, 39999),
    LEAF("Earbuds", "Earbuds", SEED_COLOR, 1499, 29999),
    LEAF("Bluetooth Speakers", "Speaker", SEED_COLOR, 1999, 49999),
    LEAF("Soundbars", "Soundbar", SEED_NONE, 7999, 89999),
};
static const struct seed_leaf electronics_computers[] = {
    LEAF("Laptops", "Laptop", SEED_STORAGE, 29999, 299999),
    LEAF("Monitors", "Monitor", SEED_SIZE_SCREEN, 9999, 129999),
    LEAF("Keyboards", "Keyboard", SEED_COLOR, 1999, 24999),
    LEAF("Mice", "Mouse", SEED_COLOR, 999, 14999),
    LEAF("External Drives", "External Drive", SEED_STORAGE, 4999, 39999),
};
static const struct seed_leaf electronics_phones[] = {
    LEAF("Smartphones", "Smartphone", SEED_STORAGE, 14999, 159999),
    LEAF("Phone Cases", "Phone Case", SEED_COLOR, 999, 4999),
    LEAF("Chargers", "Charger", SEED_NONE, 999, 5999),
    LEAF("Smartwatches", "Smartwatch", SEED_COLOR, 9999, 79999),
};
static const struct seed_leaf electronics_camera[] = {
    LEAF("Digital Cameras", "Camera", SEED_COLOR, 29999, 349999),
    LEAF("Lenses", "Lens", SEED_NONE, 14999, 199999),
    LEAF("Tripods", "Tripod", SEED_NONE, 1999, 29999),
};
static const struct seed_leaf home_kitchen[] = {
    LEAF("Kettles", "Kettle", SEED_COLOR, 1999, 14999),
    LEAF("Coffee Makers", "Coffee Maker", SEED_COLOR, 2999, 59999),
    LEAF("Blenders", "Blender", SEED_COLOR, 2999, 49999),
    LEAF("Cookware Sets", "Cookware Set", SEED_SIZE_PIECES, 4999, 69999),
    LEAF("Knives", "Chef Knife", SEED_NONE, 1999, 29999),
};
static const struct seed_leaf home_furniture[] = {
    LEAF("Desks", "Desk", SEED_COLOR, 9999, 99999),
    LEAF("Office Chairs", "Office Chair", SEED_COLOR, 7999, 129999),
    LEAF("Bookcases", "Bookcase", SEED_COLOR, 4999, 49999),
    LEAF("Sofas", "Sofa", SEED_COLOR, 39999, 299999),
};
static const struct seed_leaf home_bedding[] = {
    LEAF("Sheets", "Sheet Set", SEED_SIZE_BED, 2499, 19999),
    LEAF("Pillows", "Pillow", SEED_SIZE_BED, 1499, 9999),
    LEAF("Duvets", "Duvet", SEED_SIZE_BED, 3999, 39999),
};
static const struct seed_leaf home_decor[] = {
    LEAF("Lamps", "Lamp", SEED_COLOR, 1999, 29999),
    LEAF("Rugs", "Rug", SEED_SIZE_RUG, 2999, 89999),
    LEAF("Wall Clocks", "Wall Clock", SEED_COLOR, 1499, 14999),
};
static const struct seed_leaf clothing_men[] = {
    LEAF("Men's T-Shirts", "T-Shirt", SEED_APPAREL, 999, 4999),
    LEAF("Men's Jeans", "Jeans", SEED_APPAREL, 2999, 14999),
    LEAF("Men's Jackets", "Jacket", SEED_APPAREL, 4999, 39999),
    LEAF("Men's Sneakers", "Sneakers", SEED_SHOES, 3999, 19999),
};
static const struct seed_leaf clothing_women[] = {
    LEAF("Women's Dresses", "Dress", SEED_APPAREL, 2999, 24999),
    LEAF("Women's Tops", "Top", SEED_APPAREL, 1499, 7999),
    LEAF("Women's Boots", "Boots", SEED_SHOES, 5999, 29999),
    LEAF("Women's Coats", "Coat", SEED_APPAREL, 6999, 49999),
};
static const struct seed_leaf clothing_kids[] = {
    LEAF("Kids' Pajamas", "Pajamas", SEED_APPAREL, 1299, 4999),
    LEAF("Kids' Shoes", "Shoes", SEED_SHOES, 1999, 8999),
};
static const struct seed_leaf sports_fitness[] = {
    LEAF("Yoga Mats", "Yoga Mat", SEED_COLOR, 1499, 9999),
    LEAF("Dumbbells", "Dumbbell Set", SEED_WEIGHT, 1999, 49999),
    LEAF("Treadmills", "Treadmill", SEED_NONE, 29999, 299999),
};
static const struct seed_leaf sports_outdoors[] = {
    LEAF("Tents", "Tent", SEED_SIZE_TENT, 4999, 69999),
    LEAF("Backpacks", "Backpack", SEED_COLOR, 2999, 29999),
    LEAF("Sleeping Bags", "Sleeping Bag", SEED_COLOR, 2999, 29999),
    LEAF("Water Bottles", "Water Bottle", SEED_COLOR, 999, 4999),
};
static const struct seed_leaf sports_cycling[] = {
    LEAF("Bikes", "Bike", SEED_SIZE_FRAME, 29999, 399999),
    LEAF("Bike Helmets", "Helmet", SEED_APPAREL, 2999, 24999),
    LEAF("Bike Lights", "Bike Light", SEED_NONE, 1499, 9999),
};
static const struct seed_leaf books_fiction[] = {
    LEAF("Mystery", "Mystery Novel", SEED_FORMAT, 799, 2999),
    LEAF("Science Fiction", "Science Fiction Novel", SEED_FORMAT, 799, 2999),
    LEAF("Romance", "Romance Novel", SEED_FORMAT, 699, 2499),
};
static const struct seed_leaf books_nonfiction[] = {
    LEAF("Cookbooks", "Cookbook", SEED_FORMAT, 1499, 4999),
    LEAF("Biographies", "Biography", SEED_FORMAT, 999, 3999),
    LEAF("History", "History Book", SEED_FORMAT, 999, 4999),
};
static const struct seed_leaf toys_games[] = {
    LEAF("Board Games", "Board Game", SEED_NONE, 1499, 7999),
    LEAF("Puzzles", "Puzzle", SEED_SIZE_PIECES, 999, 4999),
    LEAF("Card Games", "Card Game", SEED_NONE, 599, 2999),
};
static const struct seed_leaf toys_build[] = {
    LEAF("Building Sets", "Building Set", SEED_SIZE_PIECES, 1999, 49999),
    LEAF("Model Kits", "Model Kit", SEED_NONE, 1999, 19999),
};
static const struct seed_leaf beauty_skin[] = {
    LEAF("Moisturizers", "Moisturizer", SEED_VOLUME, 999, 7999),
    LEAF("Sunscreen", "Sunscreen", SEED_VOLUME, 799, 3999),
    LEAF("Cleansers", "Cleanser", SEED_VOLUME, 699, 4999),
};
static const struct seed_leaf beauty_hair[] = {
    LEAF("Shampoo", "Shampoo", SEED_VOLUME, 599, 3999),
    LEAF("Hair Dryers", "Hair Dryer", SEED_COLOR, 2999, 39999),
};
static const struct seed_leaf garden_tools[] = {
    LEAF("Lawn Mowers", "Lawn Mower", SEED_NONE, 14999, 79999),
    LEAF("Garden Hoses", "Garden Hose", SEED_SIZE_HOSE, 1999, 7999),
    LEAF("Pruners", "Pruner", SEED_NONE, 999, 5999),
};
static const struct seed_leaf garden_outdoor[] = {
    LEAF("Grills", "Grill", SEED_NONE, 14999, 149999),
    LEAF("Patio Chairs", "Patio Chair", SEED_COLOR, 4999, 39999),
    LEAF("Planters", "Planter", SEED_COLOR, 1499, 14999),
};

#define SUB(name, leaves) {name, leaves, sizeof leaves / sizeof leaves[0]}

static const struct seed_sub electronics[] = {
    SUB("Audio", electronics_audio),
    SUB("Computers", electronics_computers),
    SUB("Phones & Wearables", electronics_phones),
    SUB("Cameras", electronics_camera),
};
static const struct seed_sub home[] = {
    SUB("Kitchen", home_kitchen),
    SUB("Furniture", home_furniture),
    SUB("Bedding", home_bedding),
    SUB("Decor", home_decor),
};
static const struct seed_sub clothing[] = {
    SUB("Men", clothing_men),
    SUB("Women", clothing_women),
    SUB("Kids", clothing_kids),
};
static const struct seed_sub sports[] = {
    SUB("Fitness", sports_fitness),
    SUB("Outdoor Recreation", sports_outdoors),
    SUB("Cycling", sports_cycling),
};
static const struct seed_sub books[] = {
    SUB("Fiction", books_fiction),
    SUB("Nonfiction", books_nonfiction),
};
static const struct seed_sub toys[] = {
    SUB("Games", toys_games),
    SUB("Building Toys", toys_build),
};
static const struct seed_sub beauty[] = {
    SUB("Skin Care", beauty_skin),
    SUB("Hair Care", beauty_hair),
};
static const struct seed_sub garden[] = {
    SUB("Garden Tools", garden_tools),
    SUB("Outdoor Living", garden_outdoor),
};

#define TOP(name, subs) {name, subs, sizeof subs / sizeof subs[0]}

const struct seed_top seed_taxonomy[] = {
    TOP("Electronics", electronics), TOP("Home & Kitchen", home),
    TOP("Clothing", clothing),       TOP("Sports & Outdoors", sports),
    TOP("Books", books),             TOP("Toys & Games", toys),
    TOP("Beauty", beauty),           TOP("Garden", garden),
};
const int seed_taxonomy_count = sizeof seed_taxonomy / sizeof seed_taxonomy[0];

const char *const seed_brands[] = {
    "Acme",      "Northwind",  "Contoso",    "Globex",     "Initech",    "Umbrella",  "Stark",
    "Wayne",     "Wonka",      "Tyrell",     "Cyberdyne",  "Aperture",   "Vandelay",  "Hooli",
    "Pied Piper","Soylent",    "Oscorp",     "Gringotts",  "Monarch",    "Dunder",    "Sterling",
    "Blue Sun",  "Nakatomi",   "Zorg",       "Oceanic",    "Gekko",      "Vector",    "Polaris",
    "Evergreen", "Summit",     "Harbor",     "Lumen",      "Nimbus",     "Quartz",    "Redwood",
    "Silverline","Trailhead",  "Urbana",     "Velvet",     "Willow",     "Yarrow",    "Zephyr",
    "Atlas",     "Beacon",     "Cobalt",     "Driftwood",  "Ember",      "Fjord",     "Granite",
    "Halcyon",   "Ironwood",   "Juniper",    "Kestrel",    "Lattice",    "Meridian",  "Nova",
    "Orchard",   "Pinnacle",   "Quill",      "Riverstone", "Sable",      "Tundra",    "Umber",
    "Vantage",   "Wildflower", "Xenon",      "Yonder",     "Zenith",     "Aurora",    "Boreal",
};
const int seed_brands_count = sizeof seed_brands / sizeof seed_brands[0];

const char *const seed_adjectives[] = {
    "Wireless",  "Portable",  "Compact",    "Premium",   "Classic",    "Ultra",      "Smart",
    "Ergonomic", "Deluxe",    "Lightweight","Heavy-Duty","Rechargeable","Waterproof","Foldable",
    "Vintage",   "Modern",    "Professional","Eco-Friendly","Adjustable","Insulated", "Quiet",
    "Fast",      "Durable",   "Soft",       "Organic",   "Stainless",  "Cordless",   "Slim",
    "Rugged",    "Handcrafted","Essential", "Advanced",  "Everyday",   "Travel",     "Studio",
};
const int seed_adjectives_count = sizeof seed_adjectives / sizeof seed_adjectives[0];

const char *const seed_features[] = {
    "a long-lasting battery",   "a two-year warranty",        "tool-free assembly",
    "recycled materials",       "a scratch-resistant finish", "dishwasher-safe parts",
    "a machine-washable cover", "a lifetime guarantee",       "noise cancellation",
    "fast charging",            "a reinforced frame",         "a non-slip base",
    "breathable fabric",        "an easy-grip handle",        "a travel pouch",
    "energy-saving design",     "a memory-foam core",         "quick-dry material",
    "adjustable settings",      "a compact footprint",
};
const int seed_features_count = sizeof seed_features / sizeof seed_features[0];

const char *const seed_uses[] = {
    "daily use",        "the home office", "weekend adventures", "busy kitchens",
    "small apartments", "travel",          "the whole family",   "beginners and pros",
    "gifting",          "outdoor trips",   "long workdays",      "relaxing evenings",
};
const int seed_uses_count = sizeof seed_uses / sizeof seed_uses[0];

const char *const seed_colors[] = {"Black", "White", "Silver", "Navy", "Red", "Green",
                                   "Gray",  "Blue",  "Beige",  "Pink", "Olive", "Charcoal"};
const int seed_colors_count = sizeof seed_colors / sizeof seed_colors[0];
