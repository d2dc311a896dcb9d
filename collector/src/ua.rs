//! Browser, OS and device class from a User-Agent string, plus the bot verdict.
//!
//! The maintained parsers (woothee, uap-based ones) are regex tables: woothee alone made a
//! 1.1 MB wasm (353 KB gzip), more than the rest of the collector. Analytics needs families,
//! not versions, so ordered substring rules do; their order matters because every browser
//! claims to be several others ("Edg/" pages also say "Chrome/" and "Safari/"). Bots are
//! judged by `iscrawl` (no dependencies, a few KB), plus the tokens of headless automation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub browser: String,
    pub os: String,
    /// `desktop`, `mobile`, `tablet` or `bot`.
    pub device: String,
    pub bot: bool,
}

/// First rule whose token appears wins.
const BROWSERS: &[(&str, &str)] = &[
    ("HeadlessChrome", "Chrome Headless"),
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("YaBrowser/", "Yandex"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Trident/", "Internet Explorer"),
    ("MSIE ", "Internet Explorer"),
    ("Version/", "Safari"),
];

const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("iPod", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// Tokens of automation that `iscrawl` (which looks for crawlers) lets through.
const AUTOMATION: &[&str] = &[
    "HeadlessChrome",
    "PhantomJS",
    "Electron/",
    "Puppeteer",
    "Playwright",
];

/// Classifies `ua`; `webdriver` is the page's own `navigator.webdriver` report.
pub fn classify(ua: &str, webdriver: bool) -> Agent {
    let find = |rules: &[(&str, &'static str)]| {
        rules
            .iter()
            .find(|(token, _)| ua.contains(token))
            .map_or("Other", |(_, name)| name)
            .to_string()
    };
    let browser = find(BROWSERS);
    let os = find(SYSTEMS);
    let bot = webdriver || iscrawl::is_crawler(ua) || AUTOMATION.iter().any(|t| ua.contains(t));
    let device = if bot {
        "bot"
    } else if ua.contains("iPad")
        || ua.contains("Tablet")
        || (os == "Android" && !ua.contains("Mobile"))
    {
        "tablet"
    } else if ua.contains("Mobi") || ua.contains("iPhone") || ua.contains("iPod") {
        "mobile"
    } else {
        "desktop"
    };
    Agent {
        browser,
        os,
        device: device.into(),
        bot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ua: &str, browser: &str, os: &str, device: &str) {
        let a = classify(ua, false);
        assert_eq!(
            (a.browser.as_str(), a.os.as_str(), a.device.as_str()),
            (browser, os, device),
            "{ua}"
        );
    }

    #[test]
    fn common_browsers() {
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome", "Windows", "desktop");
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge", "Windows", "desktop");
        check("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
            "Safari", "macOS", "desktop");
        check(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox",
            "Linux",
            "desktop",
        );
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            "Safari", "iOS", "mobile");
        check("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome", "iOS", "mobile");
        check("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            "Safari", "iPadOS", "tablet");
        check("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
            "Chrome", "Android", "mobile");
        check("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome", "Android", "tablet");
        check("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            "Samsung Internet", "Android", "mobile");
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
            "Opera", "Windows", "desktop");
        check("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome", "ChromeOS", "desktop");
        check(
            "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
            "Internet Explorer",
            "Windows",
            "desktop",
        );
        check("", "Other", "Other", "bot");
    }

    #[test]
    fn bots_and_automation() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
        ] {
            let a = classify(ua, false);
            assert!(a.bot, "{ua}");
            assert_eq!(a.device, "bot");
        }
        let human = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert!(!classify(human, false).bot);
        assert!(classify(human, true).bot, "navigator.webdriver marks a bot");
    }
}
