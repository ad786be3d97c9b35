//! What the model gets back from an MCP tool, as OpenCode gives it: the text of each content
//! block, joined by blank lines; structured content as JSON when there is no text; a binary
//! resource or an image named, not inlined (this server passes tool output as text).

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The most of a tool's output the model is given, as for the first-party tools.
const MAX_BYTES: usize = 50 * 1024;

/// The output for the model and whether it was cut, or, for a result the server marked as an
/// error, the error text.
pub fn text(result: CallToolResult) -> Result<(String, bool), String> {
    let mut texts = Vec::new();
    for block in &result.content {
        match block {
            ContentBlock::Text(text) => texts.push(text.text.clone()),
            ContentBlock::Image(image) => texts.push(format!(
                "[Image omitted: {} ({} bytes, base64)]",
                image.mime_type,
                image.data.len()
            )),
            ContentBlock::Resource(embedded) => match &embedded.resource {
                ResourceContents::TextResourceContents { text, .. } => texts.push(text.clone()),
                ResourceContents::BlobResourceContents {
                    uri, mime_type, blob, ..
                } => texts.push(format!(
                    "[Binary MCP resource omitted: {uri} ({}, {} bytes, base64)]",
                    mime_type.as_deref().unwrap_or("application/octet-stream"),
                    blob.len()
                )),
                _ => {}
            },
            ContentBlock::ResourceLink(link) => texts.push(format!("[Resource: {}]", link.uri)),
            _ => {}
        }
    }
    if result.is_error == Some(true) {
        let message: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();
        return Err(if message.is_empty() {
            "MCP tool returned an error".to_string()
        } else {
            message.join("\n\n")
        });
    }
    if texts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        texts.push(structured.to_string());
    }
    let output = texts.join("\n\n");
    let truncated = output.len() > MAX_BYTES;
    Ok((capped(output), truncated))
}

/// `output`, cut to [`MAX_BYTES`] on a character boundary with a note saying so.
fn capped(mut output: String) -> String {
    if output.len() <= MAX_BYTES {
        return output;
    }
    output.truncate(output.floor_char_boundary(MAX_BYTES));
    output.push_str(&format!(
        "\n\n...output truncated...\n\nThe tool's output exceeded {MAX_BYTES} bytes and only its beginning is shown."
    ));
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_BYTES);
        let cut = capped(long);
        assert!(cut.starts_with(&"é".repeat(MAX_BYTES / 2)));
        assert!(cut.ends_with("only its beginning is shown."));
        assert_eq!(capped("short".into()), "short");
    }
}
