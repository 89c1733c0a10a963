<?xml version="1.0" encoding="UTF-8"?>
<!--
  Compliance XML to a readable HTML report: one section per conversation with a table of its
  events (time, type, sender, content). Text is escaped by the processor (xsl:value-of), so
  markup in messages is shown, never interpreted. Uses the room and user details when present.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <title>Chat compliance report</title>
        <style>
          body { font-family: sans-serif; margin: 2em; }
          table { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
          th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
          td.content { white-space: pre-wrap; }
          .time { white-space: nowrap; font-family: monospace; }
        </style>
      </head>
      <body>
        <h1>Chat compliance report</h1>
        <p><xsl:value-of select="count(Conversations/Conversation)"/> conversation(s),
          <xsl:value-of select="count(Conversations/Conversation/Messages/Message)"/> event(s).</p>
        <xsl:apply-templates select="Conversations/Conversation"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="Conversation">
    <section>
      <h2>
        <xsl:choose>
          <xsl:when test="Channel/@displayName"><xsl:value-of select="Channel/@displayName"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="Channel/@uri"/></xsl:otherwise>
        </xsl:choose>
      </h2>
      <p>
        <code><xsl:value-of select="Channel/@uri"/></code>,
        from <span class="time"><xsl:value-of select="StartTimeUTC/@string"/></span>
        to <span class="time"><xsl:value-of select="EndTimeUTC/@string"/></span>
      </p>
      <table>
        <thead>
          <tr><th>Time (UTC)</th><th>Type</th><th>Id</th><th>Sender</th><th>Content</th></tr>
        </thead>
        <tbody>
          <xsl:apply-templates select="Messages/Message"/>
        </tbody>
      </table>
    </section>
  </xsl:template>

  <xsl:template match="Message">
    <tr>
      <td class="time"><xsl:value-of select="DateTimeUTC/@string"/></td>
      <td><xsl:value-of select="@type"/></td>
      <td><xsl:if test="@id != '0'"><xsl:value-of select="@id"/></xsl:if></td>
      <td>
        <xsl:value-of select="Sender/@uri"/>
        <xsl:if test="Sender/@UserName != Sender/@uri">
          <xsl:text> (</xsl:text><xsl:value-of select="Sender/@UserName"/><xsl:text>)</xsl:text>
        </xsl:if>
      </td>
      <td class="content"><xsl:value-of select="@content"/></td>
    </tr>
  </xsl:template>
</xsl:stylesheet>
