<?xml version="1.0" encoding="UTF-8"?>
<!--
  Longhall's rewrite of the original's sample compliance transform (XSLT 1.0).

  Input: the compliance XML (Conversations/Conversation/...). Output: a FileDump with one
  Conversation per room, whose messages become ParticipantEntered (JOIN), ParticipantLeft
  (PART), FileTransferStarted + FileTransferEnded (FILEUPLOAD, FILEDOWNLOAD) and Message (CHAT,
  BACKCHAT); other event types are dropped.

  Fixed from the original: the login was read from Sender/@userName (lower-case u), an attribute
  that doesn't exist, so every LoginName came out empty. Sender/@UserName is the display name;
  the login is Sender/@uri, which LoginName takes. CorporateEmailID is Sender/@email.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:template match="/">
    <FileDump>
      <xsl:apply-templates select="Conversations/Conversation"/>
    </FileDump>
  </xsl:template>

  <xsl:template match="Conversation">
    <Conversation Perspective="{Channel/@name}_group_channel">
      <RoomID><xsl:value-of select="Channel/@name"/></RoomID>
      <StartTimeUTC><xsl:value-of select="StartTimeUTC/@since1970"/></StartTimeUTC>
      <xsl:apply-templates select="Messages/Message"/>
      <EndTimeUTC><xsl:value-of select="EndTimeUTC/@since1970"/></EndTimeUTC>
    </Conversation>
  </xsl:template>

  <xsl:template match="Message[@type='JOIN']">
    <ParticipantEntered>
      <xsl:call-template name="Participant"/>
    </ParticipantEntered>
  </xsl:template>

  <xsl:template match="Message[@type='PART']">
    <ParticipantLeft>
      <xsl:call-template name="Participant"/>
    </ParticipantLeft>
  </xsl:template>

  <xsl:template match="Message[@type='FILEUPLOAD' or @type='FILEDOWNLOAD']">
    <FileTransferStarted>
      <xsl:call-template name="DateTimeAndLogin"/>
      <FileName><xsl:value-of select="@content"/></FileName>
    </FileTransferStarted>
    <FileTransferEnded>
      <xsl:call-template name="DateTimeAndLogin"/>
      <FileName><xsl:value-of select="@content"/></FileName>
      <Status>Completed</Status>
    </FileTransferEnded>
  </xsl:template>

  <xsl:template match="Message[@type='CHAT' or @type='BACKCHAT']">
    <Message>
      <xsl:call-template name="DateTimeAndLogin"/>
      <Content><xsl:value-of select="@content"/></Content>
    </Message>
  </xsl:template>

  <!-- Anything else (MESSAGE_REPLACED, MESSAGE_REMOVED, ROOM_CLEARED) is dropped. -->
  <xsl:template match="Message"/>

  <xsl:template name="Participant">
    <xsl:call-template name="DateTimeAndLogin"/>
    <InternalFlag><xsl:value-of select="Sender/@internal"/></InternalFlag>
    <ConversationID><xsl:value-of select="../../Channel/@name"/></ConversationID>
    <CorporateEmailID><xsl:value-of select="Sender/@email"/></CorporateEmailID>
  </xsl:template>

  <xsl:template name="DateTimeAndLogin">
    <LoginName><xsl:value-of select="Sender/@uri"/></LoginName>
    <DateTimeUTC><xsl:value-of select="DateTimeUTC/@since1970"/></DateTimeUTC>
  </xsl:template>
</xsl:stylesheet>
