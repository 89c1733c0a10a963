<?xml version="1.0" encoding="UTF-8"?>
<!--
  Compliance XML to CSV (RFC 4180): one row per Message, every field quoted, quotes doubled,
  CRLF line ends. Columns: room URI, room name (empty without add_chat_room_details), time
  (ISO 8601 UTC), milliseconds since 1970, type, message id, sender login (Sender/@uri), sender
  display name (Sender/@UserName), content. Line breaks inside content stay inside the quotes.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="UTF-8" media-type="text/csv"/>

  <xsl:variable name="EOL" select="'&#13;&#10;'"/>

  <xsl:template match="/">
    <xsl:text>room,room_name,time_utc,since1970,type,message_id,sender,sender_name,content</xsl:text>
    <xsl:value-of select="$EOL"/>
    <xsl:apply-templates select="Conversations/Conversation/Messages/Message"/>
  </xsl:template>

  <xsl:template match="Message">
    <xsl:variable name="channel" select="../../Channel"/>
    <xsl:call-template name="field"><xsl:with-param name="v" select="$channel/@uri"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="$channel/@displayName"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="DateTimeUTC/@string"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="DateTimeUTC/@since1970"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="@type"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="@id"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="Sender/@uri"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="Sender/@UserName"/></xsl:call-template>
    <xsl:text>,</xsl:text>
    <xsl:call-template name="field"><xsl:with-param name="v" select="@content"/></xsl:call-template>
    <xsl:value-of select="$EOL"/>
  </xsl:template>

  <!-- A quoted CSV field. -->
  <xsl:template name="field">
    <xsl:param name="v"/>
    <xsl:text>"</xsl:text>
    <xsl:call-template name="double-quotes"><xsl:with-param name="s" select="string($v)"/></xsl:call-template>
    <xsl:text>"</xsl:text>
  </xsl:template>

  <!-- $s with every " doubled. -->
  <xsl:template name="double-quotes">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="contains($s, '&quot;')">
        <xsl:value-of select="substring-before($s, '&quot;')"/>
        <xsl:text>""</xsl:text>
        <xsl:call-template name="double-quotes">
          <xsl:with-param name="s" select="substring-after($s, '&quot;')"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
