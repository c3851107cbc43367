//! Method + path-template routing. Templates use `{name}` segments. A path that matches a
//! template with another method is 405 with `Allow`; no template at all is 404. The matched
//! template (not the raw path) labels metrics, so ids do not explode their cardinality.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    Lit(&'static str),
    Param(&'static str),
}

pub struct Route<H> {
    pub method: &'static str,
    pub path: &'static str,
    pub handler: H,
    segs: Vec<Seg>,
}

pub enum Match<'a, H> {
    Found(&'a Route<H>, Params),
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

pub struct Router<H> {
    routes: Vec<Route<H>>,
}

fn parse(path: &'static str) -> Vec<Seg> {
    path.split('/')
        .skip(1)
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => Seg::Param(name),
            None => Seg::Lit(s),
        })
        .collect()
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<H> Router<H> {
    pub fn new() -> Router<H> {
        Router::default()
    }

    pub fn add(&mut self, method: &'static str, path: &'static str, handler: H) -> &mut Self {
        debug_assert!(path.starts_with('/'));
        self.routes.push(Route { method, path, handler, segs: parse(path) });
        self
    }

    pub fn routes(&self) -> impl Iterator<Item = &Route<H>> {
        self.routes.iter()
    }

    /// Matches a decoded path (no query string). HEAD is served by GET routes.
    pub fn find(&self, method: &str, path: &str) -> Match<'_, H> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let mut allow: Vec<&'static str> = Vec::new();
        for r in &self.routes {
            let Some(params) = matches(&r.segs, &parts) else { continue };
            if r.method == method || (method == "HEAD" && r.method == "GET") {
                return Match::Found(r, params);
            }
            if !allow.contains(&r.method) {
                allow.push(r.method);
            }
        }
        if allow.is_empty() {
            return Match::NotFound;
        }
        if allow.contains(&"GET") {
            allow.push("HEAD");
        }
        allow.push("OPTIONS");
        Match::MethodNotAllowed(allow)
    }

    /// The methods a path answers to (for `Allow` and CORS preflight); empty when unknown.
    pub fn methods_for(&self, path: &str) -> Vec<&'static str> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let mut m: Vec<&'static str> =
            self.routes.iter().filter(|r| matches(&r.segs, &parts).is_some()).map(|r| r.method).collect();
        m.dedup();
        m
    }
}

/// Path parameters that are credentials (a device's push token): never logged.
const SECRET_PARAMS: [&str; 1] = ["token"];

fn has_secret(segs: &[Seg]) -> bool {
    segs.iter().any(|s| matches!(s, Seg::Param(p) if SECRET_PARAMS.contains(p)))
}

impl<H> Router<H> {
    /// The path the access log shows for decoded `path`: the route template when it fills a
    /// credential parameter (whatever the method, so a 405 hides it too); otherwise the path as
    /// the client sent it — still percent-encoded, so `%0A` stays three visible characters and no
    /// space can fake a field — without the query string (calendar feed tokens).
    pub fn log_path<'a>(&'a self, path: &str, raw_url: &'a str) -> &'a str {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        if let Some(r) = self.routes.iter().find(|r| has_secret(&r.segs) && matches(&r.segs, &parts).is_some()) {
            return r.path;
        }
        raw_url.split(['?', '#']).next().unwrap_or("")
    }
}

fn matches(segs: &[Seg], parts: &[&str]) -> Option<Params> {
    if segs.len() != parts.len() {
        return None;
    }
    let mut params = Vec::new();
    for (seg, part) in segs.iter().zip(parts) {
        match seg {
            Seg::Lit(l) if l == part => {}
            Seg::Param(name) if !part.is_empty() => params.push((*name, (*part).to_string())),
            _ => return None,
        }
    }
    Some(Params(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let mut r: Router<u8> = Router::new();
        r.add("GET", "/api/v1/bookings", 1)
            .add("POST", "/api/v1/bookings", 2)
            .add("GET", "/api/v1/bookings/{id}", 3)
            .add("POST", "/api/v1/bookings/{id}/accept", 4)
            .add("GET", "/admin/", 5);
        match r.find("GET", "/api/v1/bookings/bk_1") {
            Match::Found(route, p) => assert_eq!((route.handler, p.get("id")), (3, "bk_1")),
            _ => panic!("should match"),
        }
        match r.find("HEAD", "/api/v1/bookings") {
            Match::Found(route, _) => assert_eq!(route.handler, 1),
            _ => panic!("HEAD is GET"),
        }
        match r.find("DELETE", "/api/v1/bookings") {
            Match::MethodNotAllowed(a) => assert_eq!(a, vec!["GET", "POST", "HEAD", "OPTIONS"]),
            _ => panic!("405"),
        }
        assert!(matches!(r.find("GET", "/api/v1/bookings//accept"), Match::NotFound));
        assert!(matches!(r.find("GET", "/api/v1/nope"), Match::NotFound));
        assert!(matches!(r.find("GET", "/admin/"), Match::Found(..)));
        assert!(matches!(r.find("GET", "/admin"), Match::NotFound));
        assert_eq!(r.methods_for("/api/v1/bookings"), vec!["GET", "POST"]);
    }

    #[test]
    fn logged_paths_hide_credentials_and_queries() {
        let mut r: Router<u8> = Router::new();
        r.add("DELETE", "/api/v1/me/devices/{token}", 1).add("GET", "/api/v1/bookings/{id}", 2).add(
            "GET",
            "/api/v1/provider/calendar.ics",
            3,
        );
        let dev = "/api/v1/me/devices/ExponentPushToken[abc]";
        assert_eq!(r.log_path(dev, dev), "/api/v1/me/devices/{token}");
        assert_eq!(r.log_path("/api/v1/bookings/bk_1", "/api/v1/bookings/bk_1"), "/api/v1/bookings/bk_1");
        let feed = "/api/v1/provider/calendar.ics?token=s3cret";
        assert_eq!(r.log_path("/api/v1/provider/calendar.ics", feed), "/api/v1/provider/calendar.ics");
        assert_eq!(r.log_path("/x\ny rid=z", "/x%0Ay%20rid=z?q=1"), "/x%0Ay%20rid=z");
    }
}
