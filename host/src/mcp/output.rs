//! What the model gets back from an MCP tool, as OpenCode gives it: the text of each content
//! block, joined by blank lines; structured content as JSON when there is no text; a binary
//! resource or an image named, not inlined (this server passes tool output as text).

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The output for the model, or, for a result the server marked as an error, the error text.
pub fn text(result: CallToolResult) -> Result<String, String> {
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
    Ok(texts.join("\n\n"))
}
