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
}
