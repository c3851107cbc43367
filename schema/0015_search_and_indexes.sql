-- Owner: catalog. Full-text search over listings (`GET /listings?q=`): one FTS5 row per listing,
-- keyed by the listing's rowid, holding its description, its provider's name, its category's
-- name and the names of the sub-services it prices. Triggers keep it in step with every write
-- that changes one of those texts, whatever path does it: listing insert/update/delete, price
-- rows added or removed, a provider renamed (accounts' users table), a category or sub-service
-- renamed. Visibility (live, not deleted, provider not blocked) is not indexed: the search joins
-- listings and applies the same rules as every other public read.

CREATE VIRTUAL TABLE listing_search USING fts5(
    description, provider, category, services,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

INSERT INTO listing_search (rowid, description, provider, category, services)
SELECT l.rowid, l.description,
       (SELECT u.full_name FROM users u WHERE u.id = l.provider_id),
       (SELECT c.name FROM categories c WHERE c.id = l.category_id),
       (SELECT group_concat(s.name, ' ') FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
         WHERE p.listing_id = l.id)
FROM listings l;

CREATE TRIGGER listing_search_insert AFTER INSERT ON listings
BEGIN
    INSERT INTO listing_search (rowid, description, provider, category, services)
    VALUES (new.rowid, new.description,
            (SELECT full_name FROM users WHERE id = new.provider_id),
            (SELECT name FROM categories WHERE id = new.category_id),
            (SELECT group_concat(s.name, ' ') FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
              WHERE p.listing_id = new.id));
END;

CREATE TRIGGER listing_search_update AFTER UPDATE OF description, provider_id, category_id ON listings
BEGIN
    UPDATE listing_search SET
        description = new.description,
        provider = (SELECT full_name FROM users WHERE id = new.provider_id),
        category = (SELECT name FROM categories WHERE id = new.category_id)
    WHERE rowid = new.rowid;
END;

CREATE TRIGGER listing_search_delete AFTER DELETE ON listings
BEGIN
    DELETE FROM listing_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER listing_search_price_added AFTER INSERT ON listing_prices
BEGIN
    UPDATE listing_search SET services =
        (SELECT group_concat(s.name, ' ') FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
          WHERE p.listing_id = new.listing_id)
    WHERE rowid = (SELECT rowid FROM listings WHERE id = new.listing_id);
END;

CREATE TRIGGER listing_search_price_removed AFTER DELETE ON listing_prices
BEGIN
    UPDATE listing_search SET services =
        (SELECT group_concat(s.name, ' ') FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
          WHERE p.listing_id = old.listing_id)
    WHERE rowid = (SELECT rowid FROM listings WHERE id = old.listing_id);
END;

CREATE TRIGGER listing_search_provider_renamed AFTER UPDATE OF full_name ON users
WHEN new.full_name IS NOT old.full_name
BEGIN
    UPDATE listing_search SET provider = new.full_name
    WHERE rowid IN (SELECT rowid FROM listings WHERE provider_id = new.id);
END;

CREATE TRIGGER listing_search_category_renamed AFTER UPDATE OF name ON categories
WHEN new.name IS NOT old.name
BEGIN
    UPDATE listing_search SET category = new.name
    WHERE rowid IN (SELECT rowid FROM listings WHERE category_id = new.id);
END;

CREATE TRIGGER listing_search_sub_service_renamed AFTER UPDATE OF name ON sub_services
WHEN new.name IS NOT old.name
BEGIN
    UPDATE listing_search SET services =
        (SELECT group_concat(s.name, ' ') FROM listing_prices p JOIN sub_services s ON s.id = p.sub_service_id
          WHERE p.listing_id = (SELECT id FROM listings l WHERE l.rowid = listing_search.rowid))
    WHERE rowid IN (SELECT l.rowid FROM listing_prices p JOIN listings l ON l.id = p.listing_id
                     WHERE p.sub_service_id = new.id);
END;

-- Owner: notify. `GET /notifications?unread=true` pages newest first through the unread ones only
-- (the older `notifications_unread (user_id)` serves the unread count).
CREATE INDEX notifications_unread_recent ON notifications (user_id, created_at, id) WHERE read_at IS NULL;
