-- Views through which a feature reads rows another feature owns (one owner per table: accounts
-- owns users; catalog owns categories, sub_services, listings, listing_prices; bookings owns
-- bookings, booking_items, booking_history, ratings, reports, passes, calendar_tokens). A reader
-- joins the owner's view instead of its table, so the owner can change its table behind the view.
-- Each view is a plain projection or filter of one table: SQLite flattens it into the reader's
-- query, and the reader's plan uses the owner's indexes as if it read the table itself.

-- Owner: accounts. Who a user is to other features: names on listings, reviews and bookings,
-- whether a provider is still live (blocked, deleted), and the contact details notify sends to.
CREATE VIEW user_directory AS
SELECT id, role, full_name, phone, email, blocked, deleted_at IS NOT NULL AS deleted
FROM users;

-- Owner: catalog. How a category is named where another feature shows it (booking views, the
-- provider's calendar feed).
CREATE VIEW category_directory AS
SELECT id, slug, name
FROM categories;

-- Owner: catalog. Where a sub-service sorts within its category, for listing a booking's items
-- in the catalogue's order.
CREATE VIEW sub_service_directory AS
SELECT id, category_id, name, position
FROM sub_services;

-- Owner: bookings. Bookings that still hold their slot (pending, accepted, in progress): the
-- catalogue refuses to delete a listing that has any.
CREATE VIEW open_bookings AS
SELECT id, listing_id, customer_id, provider_id, starts_at, status
FROM bookings
WHERE status IN ('pending', 'accepted', 'in_progress');

-- Owner: bookings. Customers' ratings of a listing, which the catalogue shows as its reviews.
CREATE VIEW listing_reviews AS
SELECT listing_id, rater_id AS customer_id, stars, review, created_at
FROM ratings
WHERE rater_role = 'customer';
