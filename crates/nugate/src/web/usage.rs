//! "How to use your key": the feed's absolute URL and the commands that add it and push to it, for the
//! dotnet CLI, nuget.exe and a nuget.config file. Shown on the key page (with the new key filled in
//! right after creation, and nowhere else, ever) and, without a key, on the home page.

/// The commands for one feed, with a key or the `YOUR_API_KEY` placeholder.
pub struct Usage {
    /// The service index URL clients are given.
    pub feed_url: String,
    /// The name the source is added under: `dotnet nuget push` must name the source, not its URL
    /// (the .NET 9+ CLI refuses an http push URL given directly).
    pub source_name: String,
    /// `true` when the feed is plain http: .NET 9+ then needs `allowInsecureConnections`.
    pub insecure: bool,
    /// The key in the commands.
    pub key: String,
    /// Whether `key` is a real key rather than the placeholder.
    pub has_key: bool,
}

/// The name sources are added under.
const SOURCE_NAME: &str = "nugate";

impl Usage {
    /// The commands for the feed at `base_url` (the configured public URL), with `key` when one was
    /// just created.
    pub fn new(base_url: &str, key: Option<&str>) -> Usage {
        let base = base_url.trim_end_matches('/');
        Usage {
            feed_url: format!("{base}/v3/index.json"),
            source_name: SOURCE_NAME.to_string(),
            insecure: base.starts_with("http://"),
            key: key.unwrap_or("YOUR_API_KEY").to_string(),
            has_key: key.is_some(),
        }
    }

    /// `dotnet nuget add source …`.
    pub fn add_source(&self) -> String {
        format!(
            "dotnet nuget add source {} -n {}{}",
            self.feed_url,
            self.source_name,
            if self.insecure {
                " --allow-insecure-connections"
            } else {
                ""
            }
        )
    }

    /// `dotnet nuget push …`, by source name.
    pub fn dotnet_push(&self) -> String {
        format!(
            "dotnet nuget push PACKAGE.nupkg --api-key {} --source {}",
            self.key, self.source_name
        )
    }

    /// `nuget setapikey …` then `nuget push …` with nuget.exe.
    pub fn nuget_exe(&self) -> String {
        format!(
            "nuget setapikey {key} -Source {url}\nnuget push PACKAGE.nupkg -Source {url}",
            key = self.key,
            url = self.feed_url
        )
    }

    /// A nuget.config that adds the feed.
    pub fn nuget_config(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    \
             <add key=\"{}\" value=\"{}\"{} />\n  </packageSources>\n</configuration>",
            self.source_name,
            self.feed_url,
            if self.insecure {
                " allowInsecureConnections=\"true\""
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Usage;

    #[test]
    fn commands_name_the_absolute_feed_and_the_key() {
        let usage = Usage::new("https://feed.example/", Some("ng_secret"));
        assert_eq!(usage.feed_url, "https://feed.example/v3/index.json");
        assert_eq!(
            usage.add_source(),
            "dotnet nuget add source https://feed.example/v3/index.json -n nugate"
        );
        assert_eq!(
            usage.dotnet_push(),
            "dotnet nuget push PACKAGE.nupkg --api-key ng_secret --source nugate"
        );
        assert!(usage
            .nuget_exe()
            .starts_with("nuget setapikey ng_secret -Source https://feed.example/v3/index.json\n"));
        assert!(!usage.nuget_config().contains("allowInsecureConnections"));
        let http = Usage::new("http://127.0.0.1:5000", None);
        assert!(http.dotnet_push().contains("YOUR_API_KEY"));
        assert!(http.add_source().ends_with("--allow-insecure-connections"));
        assert!(http
            .nuget_config()
            .contains("allowInsecureConnections=\"true\""));
    }
}
