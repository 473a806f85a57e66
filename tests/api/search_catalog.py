"""A fixed catalog for the search and browse API tests, created through the
catalog API, with a Python model of it so tests can compute expected
answers by brute force.

Labelled products have hand-written titles (the relevance tests name them by
key); filler products are generated from a fixed seed and carry one marker
word in their description ("sturdy", "elegant" or "nimble") that appears
nowhere else, so text matches can be computed without a tokenizer.
"""
import datetime
import random

from conftest import uid
from shop_fixtures import Shop

# (key, title, brand, category key, price cents, stock)
LABELLED = [
    ("sony_xm5", "Sony WH-1000XM5 Wireless Noise Cancelling Headphones", "Sony", "headphones", 34999, 5),
    ("bose_qc", "Bose QuietComfort Ultra Headphones", "Bose", "headphones", 42900, 5),
    ("jbl_tune", "JBL Tune 760NC Headphones", "JBL", "headphones", 12995, 0),
    ("sony_xb13", "Sony SRS-XB13 Portable Speaker", "Sony", "speakers", 5999, 5),
    ("jbl_charge", "JBL Charge 5 Bluetooth Speaker", "JBL", "speakers", 17995, 5),
    ("bose_flex", "Bose SoundLink Flex Speaker", "Bose", "speakers", 14900, 0),
    ("dell_xps", "Dell XPS 13 Laptop", "Dell", "laptops", 99900, 5),
    ("thinkpad", "Lenovo ThinkPad X1 Carbon Laptop", "Lenovo", "laptops", 149900, 5),
    ("inspiron", "Dell Inspiron 15 Notebook", "Dell", "laptops", 54900, 5),
    ("barista", "Breville Barista Express Espresso Machine", "Breville", "coffee", 69995, 5),
    ("magnifica", "DeLonghi Magnifica Evo Coffee Maker", "DeLonghi", "coffee", 79995, 5),
    ("bambino", "Breville Bambino Plus Espresso Maker", "Breville", "coffee", 49995, 0),
    ("ninja_kettle", "Ninja Electric Kettle", "Ninja", "kettles", 4999, 5),
    ("breville_kettle", "Breville Smart Kettle Luxe", "Breville", "kettles", 17995, 5),
    ("pegasus", "Nike Pegasus 40 Running Shoes", "Nike", "running", 12999, 5),
    ("nimbus", "Asics Gel Nimbus Running Shoe", "Asics", "running", 15999, 5),
    ("shorts", "Nike Dri-FIT Running Shorts", "Nike", "running", 3499, 5),
    ("forerunner", "Garmin Forerunner 265 Watch", "Garmin", "running", 44999, 5),
    ("skillet", "Lodge Cast Iron Skillet", "Lodge", "kitchen", 2999, 5),
    ("cookware", "Cuisinart Stainless Steel Cookware Set", "Cuisinart", "kitchen", 19999, 5),
]

# (query, expected key, top k)
QUERIES = [
    # exact titles
    ("Sony WH-1000XM5 Wireless Noise Cancelling Headphones", "sony_xm5", 3),
    ("Bose QuietComfort Ultra Headphones", "bose_qc", 3),
    ("JBL Charge 5 Bluetooth Speaker", "jbl_charge", 3),
    ("Dell XPS 13 Laptop", "dell_xps", 3),
    ("Lenovo ThinkPad X1 Carbon Laptop", "thinkpad", 3),
    ("Breville Barista Express Espresso Machine", "barista", 3),
    ("DeLonghi Magnifica Evo Coffee Maker", "magnifica", 3),
    ("Ninja Electric Kettle", "ninja_kettle", 3),
    ("Nike Pegasus 40 Running Shoes", "pegasus", 3),
    ("Lodge Cast Iron Skillet", "skillet", 3),
    ("Garmin Forerunner 265 Watch", "forerunner", 3),
    # brand + category or kind
    ("sony headphones", "sony_xm5", 3),
    ("jbl speaker", "jbl_charge", 3),
    ("bose speaker", "bose_flex", 3),
    ("dell laptop", "dell_xps", 3),
    ("lenovo laptop", "thinkpad", 3),
    ("breville kettle", "breville_kettle", 3),
    ("nike running shorts", "shorts", 3),
    ("asics running", "nimbus", 3),
    ("delonghi coffee", "magnifica", 3),
    # plurals and stems
    ("espresso machines", "barista", 3),
    ("running shoe", "nimbus", 3),
    ("running shoes", "pegasus", 3),
    ("kettles", "ninja_kettle", 3),
    ("speakers", "sony_xb13", 3),
    ("coffee makers", "magnifica", 3),
    ("notebooks", "inspiron", 3),
    ("skillets", "skillet", 3),
    # one edit
    ("hedphones", "sony_xm5", 5),
    ("expresso machine", "barista", 5),
    ("lenvo laptop", "thinkpad", 5),
    ("kettel", "ninja_kettle", 5),
    ("breviile bambino", "bambino", 5),
    ("thinkpda", "thinkpad", 5),
    # two edits
    ("hedphnes", "bose_qc", 5),
    ("bluetoth speker", "jbl_charge", 5),
    ("forrunnr", "forerunner", 5),
    ("cookwear", "cookware", 5),
    # prefixes (the word still being typed)
    ("headph", "jbl_tune", 3),
    ("thinkp", "thinkpad", 3),
    ("pegas", "pegasus", 3),
    ("magnif", "magnifica", 3),
    ("sony wh", "sony_xm5", 3),
    ("cuisin", "cookware", 3),
]

MARKERS = ["sturdy", "elegant", "nimble"]
FILLER_NOUNS = {"headphones": "Headset", "speakers": "Soundbar", "laptops": "Docking Station",
                "coffee": "Milk Frother", "kettles": "Teapot", "running": "Armband",
                "kitchen": "Spatula", "audio": "Cable", "home": "Doormat"}
FILLER_ADJ = ["Classic", "Compact", "Deluxe", "Basic", "Mini", "Large"]
FILLER_BRANDS = ["Acme", "Zenith", "Sony", "Nike", "Orbit", "Crème Co"]


def created_ms(rfc3339):
    return int(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


class Catalog:
    """The shop, its category tree and products, and the model of them."""

    def __init__(self, server, fillers=90, seed=7):
        self.s = server
        self.shop = Shop(server)
        admin = self.shop.admin

        def cat(name, parent=None):
            body = {"name": name}
            if parent:
                body["parent_id"] = self.cats[parent]["id"]
            r = server.post("/v1/categories", body, token=admin)
            assert r.status == 201, r
            return {"id": r["id"], "name": r["name"], "parent": parent}

        self.cats = {}
        for key, name, parent in [("electronics", "Electronics", None), ("audio", "Audio", "electronics"),
                                  ("headphones", "Headphones", "audio"), ("speakers", "Speakers", "audio"),
                                  ("computers", "Computers", "electronics"), ("laptops", "Laptops", "computers"),
                                  ("home", "Home", None), ("kitchen", "Kitchen", "home"),
                                  ("coffee", "Coffee Machines", "kitchen"), ("kettles", "Kettles", "kitchen"),
                                  ("sports", "Sports", None), ("running", "Running", "sports")]:
            self.cats[key] = cat(name, parent)
        self.products = []  # dicts: id, key, title, brand, cat, price, max_price, in_stock, created, marker
        self.by_key = {}
        for key, title, brand, c, price, stock in LABELLED:
            self.add(title, brand, c, price, stock, "A well made product.", key=key)
        rnd = random.Random(seed)
        for i in range(fillers):
            c = rnd.choice(list(FILLER_NOUNS))
            brand = rnd.choice(FILLER_BRANDS)
            marker = MARKERS[i % 3]
            title = f"{brand} {rnd.choice(FILLER_ADJ)} {FILLER_NOUNS[c]} {100 + i}"
            price = rnd.choice([1999, 1999, 999, 4999]) if i % 6 == 0 else rnd.randint(100, 300000)
            stock = rnd.choice([0, 3, 5])
            variants = None
            if i % 4 == 0:  # two variants: price_cents is the lower
                variants = [{"sku": "SKU-" + uid(), "price_cents": price + 500},
                            {"sku": "SKU-" + uid(), "price_cents": price}]
            self.add(title, brand, c, price, stock, f"Built to last, {marker} and simple.",
                     marker=marker, variants=variants)

    def add(self, title, brand, c, price, stock, desc, key=None, marker=None, variants=None):
        p = self.shop.product(title=title, price=price, stock=stock, brand=brand,
                              category=self.cats[c]["id"], description=desc, variants=variants)
        assert p["status"] == "published", p
        prices = [v["price_cents"] for v in p["variants"]]
        item = {"id": p["id"], "key": key, "title": title, "brand": brand, "cat": c,
                "price": min(prices), "max_price": max(prices), "in_stock": stock > 0,
                "created": created_ms(p["created_at"]), "marker": marker,
                "variants": [v["id"] for v in p["variants"]]}
        self.products.append(item)
        if key:
            self.by_key[key] = item
        return item

    # ---- the model ----------------------------------------------------------
    def cat_key(self, cat_id):
        return next(k for k, c in self.cats.items() if c["id"] == cat_id)

    def ancestors(self, key):
        """root … key"""
        chain = []
        while key:
            chain.append(key)
            key = self.cats[key]["parent"]
        return chain[::-1]

    def passes(self, p, f):
        if f.get("category") and self.cat_key(f["category"]) not in self.ancestors(p["cat"]):
            return False
        if f.get("brand") and f["brand"].lower().replace("è", "e") != p["brand"].lower().replace("è", "e"):
            return False
        if f.get("min_price") is not None and p["price"] < f["min_price"]:
            return False
        if f.get("max_price") is not None and p["price"] > f["max_price"]:
            return False
        if f.get("min_rating") and float(f["min_rating"]) > 0:
            return False  # nothing is rated in this catalog
        if f.get("in_stock") is not None and p["in_stock"] != (f["in_stock"] == "true"):
            return False
        if f.get("q") and p["marker"] != f["q"]:
            return False
        return True

    def expected(self, f):
        """(matching products, facets) as the API should report them."""
        match = [p for p in self.products if self.passes(p, f)]
        brands, cats, prices = {}, {}, {}
        depth = len(self.ancestors(self.cat_key(f["category"]))) if f.get("category") else 0
        edges = [0, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000]
        for p in match:
            brands[p["brand"]] = brands.get(p["brand"], 0) + 1
            chain = self.ancestors(p["cat"])
            if len(chain) > depth:
                cid = self.cats[chain[depth]]["id"]
                cats[cid] = cats.get(cid, 0) + 1
            b = max(i for i, e in enumerate(edges) if p["price"] >= e)
            prices[b] = prices.get(b, 0) + 1
        facets = {
            "brand": sorted(({"value": k, "count": v} for k, v in brands.items()),
                            key=lambda x: (-x["count"], x["value"])),
            "category": sorted(({"value": k, "count": v} for k, v in cats.items()),
                               key=lambda x: (-x["count"], x["value"])),
            "price": [{"from_cents": edges[b], "to_cents": edges[b + 1] if b + 1 < len(edges) else None,
                       "count": prices[b]} for b in sorted(prices)],
            "rating": [{"min": m, "count": 0} for m in (4, 3, 2, 1)],
        }
        return match, facets

    @staticmethod
    def order(products, sort):
        if sort == "price_asc":
            return sorted(products, key=lambda p: (p["price"], p["id"]))
        if sort == "price_desc":
            return sorted(products, key=lambda p: (-p["price"], p["id"]))
        if sort == "newest":
            return sorted(products, key=lambda p: (-p["created"], -p["id"]))
        # rating and popularity: nothing rated or sold here, so ties broken by id
        return sorted(products, key=lambda p: p["id"])
