/*
 * IRC client protocol: message parsing and formatting, ascii
 * casemapping, nick and channel name rules, and every numeric reply and
 * message the chat service sends.  Pure: no sockets, no allocation.
 *
 * The reply macros below expand to two arguments, the command or
 * numeric and a printf format for what follows it, so that a call such
 * as reply(u, IRC_ERR_NOSUCHNICK, name) keeps its format checked by the
 * compiler while the protocol text stays in this one file.  A numeric's
 * format starts after "<client> "; a relayed message's format starts
 * after ":<nick>!<user>@<host> ".
 */
#ifndef EVSOCK_COMMON_IRC_H
#define EVSOCK_COMMON_IRC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define IRC_MAX_PARAMS 15
#define IRC_LINE_MAX 512 /* bytes including CRLF (RFC 1459) */
#define IRC_NICK_MAX 30  /* NICKLEN */
#define IRC_USER_MAX 10  /* USERLEN */
#define IRC_REALNAME_MAX 50
#define IRC_CHANNEL_MAX 50 /* CHANNELLEN */
#define IRC_TOPIC_MAX 390  /* TOPICLEN */
#define IRC_KICK_MAX 390   /* KICKLEN */
#define IRC_AWAY_MAX 200   /* AWAYLEN */
#define IRC_CHANLIMIT 50   /* channels one client may join */
#define IRC_KEY_MAX 32     /* KEYLEN */
#define IRC_TARGMAX 4      /* PRIVMSG, NOTICE and KICK targets per line */
#define IRC_MODES 6        /* MODES: parameter modes per MODE line */
#define IRC_MAXLIST 100    /* MAXLIST: +b, +e and +I entries together */
#define IRC_INVITES_MAX 32 /* pending invites one client may hold */
#define IRC_MASK_MAX 128   /* a ban or exception mask, normalized */
/* Message tags (IRCv3): a client's tag data, without the leading '@'
   and the space after it; a whole line's tag section, both included. */
#define IRC_TAGS_CLIENT_MAX 4094
#define IRC_TAGS_MAX 8191

/* One parsed message; the strings point into the parsed line. */
struct irc_msg {
	const char *tags;    /* "k=v;k2" without '@'; NULL when absent */
	const char *prefix;  /* NULL when absent */
	const char *command; /* upper-cased */
	const char *params[IRC_MAX_PARAMS];
	int nparams;
	int trailing; /* 1 if the last parameter was given with ':' */
};

enum irc_parse_result {
	IRC_PARSE_OK = 0,
	IRC_PARSE_EMPTY = -1,  /* nothing but tags, prefix or spaces */
	IRC_PARSE_BADCHAR = -2 /* NUL, CR or LF inside the line */
};

/*
 * Parses one line of `len` bytes (no CR/LF terminator; it may contain
 * NUL) in place: separators are overwritten with NUL and the command is
 * upper-cased.  Message tags (@...) are reported raw (still escaped)
 * in m->tags, a :prefix is reported but never trusted.  At most IRC_MAX_PARAMS parameters; the last one
 * takes the rest of the line.  The line needs one spare byte after
 * `len` (line[len] is written).  Returns IRC_PARSE_OK or a negative
 * enum irc_parse_result; *m is valid only on IRC_PARSE_OK.
 */
int irc_parse(char *line, size_t len, struct irc_msg *m);

/*
 * Formats one protocol line into buf (capacity `size`): the printf
 * result, cut to at most max - 2 bytes without splitting a UTF-8
 * sequence, with any CR, LF or NUL replaced by a space, then CRLF.
 * Requires size >= max >= 3.  Returns the line's length including CRLF.
 */
size_t irc_vformat(char *buf, size_t size, size_t max, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));
size_t irc_format(char *buf, size_t size, size_t max, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Builds a message from a prefix (NULL: none), a command and nparams
 * parameters; the last one is sent as trailing (":...") when it must
 * be (empty, has a space, starts with ':').  Middle parameters that are
 * empty, contain a space or start with ':' are invalid: returns 0.
 * Otherwise returns the length including CRLF (cut to max as for
 * irc_vformat).
 */
size_t irc_build(char *buf, size_t size, size_t max, const char *prefix,
    const char *command, int nparams, const char *const *params);

/*
 * Message tags.  A tag list is "key[=value];key2..." as on the wire,
 * values escaped (\: ; \s space, \\ backslash, \r, \n).
 */
/* Escapes src as a tag value into dst (capacity size > 0, always
   terminated).  Returns the length, or (size_t)-1 if it does not fit
   (dst then holds nothing useful). */
size_t irc_tag_escape(char *dst, size_t size, const char *src);
/* Unescapes len bytes of an escaped value into dst (capacity size > 0,
   always terminated, cut to fit): an unknown escape "\x" gives x and
   a lone trailing '\' is dropped.  Returns the length. */
size_t irc_tag_unescape(char *dst, size_t size, const char *src, size_t len);
/* Steps through the tag list at *p: sets the key and the (escaped)
   value, each by pointer and length (a tag without '=' has an empty
   value), and moves *p past it.  Empty items are skipped.  Returns 1
   for a tag, 0 at the end. */
int irc_tag_next(const char **p, const char **key, size_t *keylen,
    const char **val, size_t *vallen);
/* Returns 1 if the key (len bytes) is well formed: an optional '+'
   (client-only), an optional vendor ending in '/', then letters,
   digits and '-'. */
int irc_tag_key_valid(const char *key, size_t len);
/* Finds `key` in the tag list; when present, unescapes its value into
   val (capacity size > 0) and returns 1 (the last one wins).  Else 0. */
int irc_tag_get(const char *tags, const char *key, char *val, size_t size);
/* Copies the client-only tags (keys starting with '+') of the list
   into dst (capacity size > 0, always terminated) as "k=v;k2=v2",
   values re-escaped; malformed keys and tags that would not fit are
   left out.  Returns the length. */
size_t irc_tags_client(char *dst, size_t size, const char *tags);
/* Formats a time in milliseconds since the epoch as server-time does,
   "YYYY-MM-DDThh:mm:ss.sssZ" (UTC), into buf (size >= 25).  Returns
   the length, 0 if it does not fit. */
size_t irc_time_format(char *buf, size_t size, int64_t ms);
/* Parses that format (the milliseconds and the 'Z' may be left out);
   returns 0 and sets *ms, or -1. */
int irc_time_parse(const char *s, int64_t *ms);

/* ascii casemapping (CASEMAPPING=ascii): only A-Z fold to a-z. */
int irc_tolower(int ch);
/* Compares case-insensitively; returns <0, 0 or >0 like strcmp. */
int irc_casecmp(const char *a, const char *b);
/* Copies s lower-cased into dst (capacity len, always terminated). */
void irc_strlower(char *dst, const char *s, size_t len);
/* Returns a hash of s that is equal for names that compare equal. */
unsigned long irc_casehash(const char *s);

/* Returns 1 if s is a valid nickname (RFC 2812 grammar, at most
   IRC_NICK_MAX bytes), else 0. */
int irc_valid_nick(const char *s);
/* Returns 1 if s is a valid channel name ('#', at most IRC_CHANNEL_MAX
   bytes, no space, comma, BEL or control byte), else 0. */
int irc_valid_channel(const char *s);
/* Returns 1 if s names a channel (starts with a channel prefix). */
int irc_is_channel(const char *s);

/*
 * Compares two NUL-terminated secrets in time that depends only on the
 * length of `given`, not on where they differ.  Returns 1 if equal.
 */
int irc_secret_equal(const char *given, const char *expected);
/* Copies the next item of the comma-separated list at *p into item (at
   most size - 1 bytes and a NUL; size > 0), skipping empty items, and
   moves *p past it.  Returns the item's length, 0 at the end. */
size_t irc_list_next(const char **p, char *item, size_t size);

/* Numeric replies (modern.ircdocs.horse); format after "<client> ". */
#define IRC_RPL_WELCOME "001", ":Welcome to the %s Network, %s"
#define IRC_RPL_YOURHOST "002", ":Your host is %s, running version %s"
#define IRC_RPL_CREATED "003", ":This server was created %s"
#define IRC_RPL_MYINFO "004", "%s %s %s %s %s"
#define IRC_RPL_ISUPPORT "005", "%s :are supported by this server"
#define IRC_RPL_UMODEIS "221", "%s"
#define IRC_RPL_LUSERCLIENT \
	"251", ":There are %zu users and %zu invisible on 1 servers"
#define IRC_RPL_LUSERUNKNOWN "253", "%zu :unknown connection(s)"
#define IRC_RPL_LUSERCHANNELS "254", "%zu :channels formed"
#define IRC_RPL_LUSERME "255", ":I have %zu clients and 0 servers"
#define IRC_RPL_LOCALUSERS "265", "%zu %zu :Current local users %zu, max %zu"
#define IRC_RPL_GLOBALUSERS "266", "%zu %zu :Current global users %zu, max %zu"
#define IRC_RPL_AWAY "301", "%s :%s"
#define IRC_RPL_UNAWAY "305", ":You are no longer marked as being away"
#define IRC_RPL_NOWAWAY "306", ":You have been marked as being away"
#define IRC_RPL_WHOISUSER "311", "%s %s %s * :%s"
#define IRC_RPL_WHOISSERVER "312", "%s %s :%s"
#define IRC_RPL_ENDOFWHO "315", "%s :End of WHO list"
#define IRC_RPL_WHOISIDLE "317", "%s %lld %lld :seconds idle, signon time"
#define IRC_RPL_WHOISSECURE "671", "%s :is using a secure connection"
#define IRC_RPL_ENDOFWHOIS "318", "%s :End of /WHOIS list"
/* Lists packed as many to a line as fit: the format is the part before
   the list, which follows as the trailing parameter. */
#define IRC_RPL_WHOISCHANNELS "319", "%s"
#define IRC_RPL_LISTSTART "321", "Channel :Users  Name"
#define IRC_RPL_LIST "322", "%s %zu :%s"
#define IRC_RPL_LISTEND "323", ":End of /LIST"
#define IRC_RPL_CHANNELMODEIS "324", "%s %s"
#define IRC_RPL_CREATIONTIME "329", "%s %lld"
#define IRC_RPL_INVITELIST "336", "%s"
#define IRC_RPL_ENDOFINVITELIST "337", ":End of /INVITE list"
#define IRC_RPL_NOTOPIC "331", "%s :No topic is set"
#define IRC_RPL_TOPIC "332", "%s :%s"
#define IRC_RPL_TOPICWHOTIME "333", "%s %s %lld"
#define IRC_RPL_INVITING "341", "%s %s"
#define IRC_RPL_INVEXLIST "346", "%s %s %s %lld"
#define IRC_RPL_ENDOFINVEXLIST "347", "%s :End of Channel Invite Exception List"
#define IRC_RPL_EXCEPTLIST "348", "%s %s %s %lld"
#define IRC_RPL_ENDOFEXCEPTLIST "349", "%s :End of channel exception list"
#define IRC_RPL_VERSION "351", "%s %s :%s"
#define IRC_RPL_WHOREPLY "352", "%s %s %s %s %s %s :0 %s"
#define IRC_RPL_NAMREPLY "353", "%c %s" /* list follows, as 319 */
#define IRC_RPL_ENDOFNAMES "366", "%s :End of /NAMES list"
#define IRC_RPL_BANLIST "367", "%s %s %s %lld"
#define IRC_RPL_ENDOFBANLIST "368", "%s :End of channel ban list"
#define IRC_RPL_MOTD "372", ":- %s"
#define IRC_RPL_MOTDSTART "375", ":- %s Message of the day - "
#define IRC_RPL_ENDOFMOTD "376", ":End of /MOTD command."
#define IRC_RPL_TIME "391", "%s %lld :%s"
#define IRC_ERR_UNKNOWNERROR "400", "%s :%s"
#define IRC_ERR_NOSUCHNICK "401", "%s :No such nick/channel"
#define IRC_ERR_NOSUCHCHANNEL "403", "%s :No such channel"
#define IRC_ERR_CANNOTSENDTOCHAN "404", "%s :Cannot send to channel"
#define IRC_ERR_TOOMANYCHANNELS "405", "%s :You have joined too many channels"
#define IRC_ERR_TOOMANYTARGETS \
	"407", "%s :Too many targets; the limit is %d, nothing was sent"
#define IRC_ERR_INVALIDCAPCMD "410", "%s :Invalid CAP command"
#define IRC_ERR_NORECIPIENT "411", ":No recipient given (%s)"
#define IRC_ERR_NOTEXTTOSEND "412", ":No text to send"
#define IRC_ERR_INPUTTOOLONG "417", ":Input line was too long"
#define IRC_ERR_UNKNOWNCOMMAND "421", "%s :Unknown command"
#define IRC_ERR_NOMOTD "422", ":MOTD File is missing"
#define IRC_ERR_NONICKNAMEGIVEN "431", ":No nickname given"
#define IRC_ERR_ERRONEUSNICKNAME "432", "%s :Erroneus nickname"
#define IRC_ERR_NICKNAMEINUSE "433", "%s :Nickname is already in use"
#define IRC_ERR_USERNOTINCHANNEL "441", "%s %s :They aren't on that channel"
#define IRC_ERR_NOTONCHANNEL "442", "%s :You're not on that channel"
#define IRC_ERR_USERONCHANNEL "443", "%s %s :is already on channel"
#define IRC_ERR_NOTREGISTERED "451", ":You have not registered"
#define IRC_ERR_NEEDMOREPARAMS "461", "%s :Not enough parameters"
#define IRC_ERR_ALREADYREGISTERED "462", ":You may not reregister"
#define IRC_ERR_PASSWDMISMATCH "464", ":Password incorrect"
#define IRC_ERR_KEYSET "467", "%s :Channel key already set"
#define IRC_ERR_CHANNELISFULL "471", "%s :Cannot join channel (+l)"
#define IRC_ERR_UNKNOWNMODE "472", "%c :is unknown mode char to me"
#define IRC_ERR_INVITEONLYCHAN "473", "%s :Cannot join channel (+i)"
#define IRC_ERR_BANNEDFROMCHAN "474", "%s :Cannot join channel (+b)"
#define IRC_ERR_BADCHANNELKEY "475", "%s :Cannot join channel (+k)"
#define IRC_ERR_BANLISTFULL "478", "%s %c :Channel list is full"
#define IRC_ERR_CHANOPRIVSNEEDED "482", "%s :You're not channel operator"
#define IRC_ERR_UMODEUNKNOWNFLAG "501", ":Unknown MODE flag"
#define IRC_ERR_USERSDONTMATCH "502", ":Cant change mode for other users"
#define IRC_ERR_INVALIDMODEPARAM "696", "%s %c %s :%s"

/* Queries, server information and operators. */
#define IRC_RPL_STATSLINKINFO "211", "%s %llu %llu %llu %llu %llu %lld"
#define IRC_RPL_STATSCOMMANDS "212", "%s %llu 0 0"
#define IRC_RPL_STATSKLINE "216", "K %s * %s :%s"
#define IRC_RPL_ENDOFSTATS "219", "%s :End of /STATS report"
#define IRC_RPL_STATSUPTIME "242", ":Server Up %lld days %lld:%02lld:%02lld"
#define IRC_RPL_LUSEROP "252", "%zu :operator(s) online"
#define IRC_RPL_ADMINME "256", "%s :Administrative info"
#define IRC_RPL_ADMINLOC1 "257", ":%s"
#define IRC_RPL_ADMINLOC2 "258", ":%s"
#define IRC_RPL_ADMINEMAIL "259", ":%s"
#define IRC_RPL_USERHOST "302", ":%s" /* space-separated replies */
#define IRC_RPL_ISON "303", ":%s"
#define IRC_RPL_WHOISOPERATOR "313", "%s :is an IRC operator"
#define IRC_RPL_WHOWASUSER "314", "%s %s %s * :%s"
#define IRC_RPL_WHOISACTUALLY "338", "%s %s :actually using host"
#define IRC_RPL_WHOSPCRPL "354", "%s" /* WHOX: the fields asked for */
#define IRC_RPL_LINKS "364", "%s %s :0 %s"
#define IRC_RPL_ENDOFLINKS "365", "%s :End of /LINKS list"
#define IRC_RPL_ENDOFWHOWAS "369", "%s :End of WHOWAS"
#define IRC_RPL_INFO "371", ":%s"
#define IRC_RPL_ENDOFINFO "374", ":End of INFO list"
#define IRC_RPL_YOUREOPER "381", ":You are now an IRC operator"
#define IRC_RPL_REHASHING "382", "%s :Rehashing"
#define IRC_ERR_NOSUCHSERVER "402", "%s :No such server"
#define IRC_ERR_WASNOSUCHNICK "406", "%s :There was no such nickname"
#define IRC_ERR_YOUREBANNEDCREEP "465", ":You are banned from this server (%s)"
#define IRC_ERR_NOPRIVILEGES \
	"481", ":Permission Denied - You're not an IRC operator"
#define IRC_ERR_CANTKILLSERVER "483", ":You can't kill a server!"
#define IRC_ERR_NOOPERHOST "491", ":No O-lines for your host"
#define IRC_ERR_HELPNOTFOUND "524", "%s :No help available on this topic"
#define IRC_RPL_HELPSTART "704", "%s :%s"
#define IRC_RPL_HELPTXT "705", "%s :%s"
#define IRC_RPL_ENDOFHELP "706", "%s :End of /HELP"
#define IRC_RPL_MONONLINE "730", ":%s"
#define IRC_RPL_MONOFFLINE "731", ":%s"
#define IRC_RPL_MONLIST "732", ":%s"
#define IRC_RPL_ENDOFMONLIST "733", ":End of MONITOR list"
#define IRC_ERR_MONLISTFULL "734", "%d %s :Monitor list is full"

/* Messages from the server itself; format after ":<server> ". */
#define IRC_MSG_PING "PING", ":%s"
#define IRC_MSG_PONG "PONG", "%s :%s"
#define IRC_MSG_CAP "CAP", "%s %s :%s"
#define IRC_MSG_CAP_MORE "CAP", "%s %s * :%s" /* more lines follow */

/* Messages relayed for a client; format after ":<nick>!<user>@<host> ". */
#define IRC_MSG_PRIVMSG "PRIVMSG", "%s :%s"
#define IRC_MSG_NOTICE "NOTICE", "%s :%s"
#define IRC_MSG_JOIN "JOIN", "%s"
#define IRC_MSG_PART "PART", "%s"
#define IRC_MSG_PART_REASON "PART", "%s :%s"
#define IRC_MSG_QUIT "QUIT", ":%s"
#define IRC_MSG_NICK "NICK", ":%s"
#define IRC_MSG_TOPIC "TOPIC", "%s :%s"
#define IRC_MSG_KICK "KICK", "%s %s :%s"
#define IRC_MSG_MODE "MODE", "%s %s"
#define IRC_MSG_INVITE "INVITE", "%s %s"
#define IRC_MSG_SETNAME "SETNAME", ":%s"
#define IRC_MSG_AWAY "AWAY", ":%s"
#define IRC_MSG_BACK "AWAY", "%s" /* with "": no longer away */
#define IRC_MSG_CHATHISTORY_TARGET "CHATHISTORY", "TARGETS %s %s"

#define IRC_MSG_WALLOPS "WALLOPS", ":%s"
#define IRC_MSG_SERVER_NOTICE "NOTICE", "%s :*** %s"

/* A connection being closed; no prefix.  The reason is a sentence. */
#define IRC_ERROR_CLOSING "ERROR :Closing Link: %s (%s)\r\n"
#define IRC_ERROR_SHUTDOWN "ERROR :Server shutting down\r\n"

/* What the server supports, as 004 and 005 announce it. */
#define IRC_USER_MODES "iow"
#define IRC_CHANNEL_MODES "CIbeiklmnostv"
#define IRC_CHANNEL_MODES_PARAM "beIklov"
#define IRC_ISUPPORT_1 \
	"AWAYLEN=200 CASEMAPPING=ascii CHANLIMIT=#:50 " \
	"CHANMODES=beI,k,l,Cimnst CHANNELLEN=50 CHANTYPES=# ELIST=MNU " \
	"EXCEPTS=e INVEX=I KEYLEN=32 KICKLEN=390"
#define IRC_ISUPPORT_2 \
	"MAXLIST=beI:100 MODES=6 NETWORK=%s NICKLEN=30 " \
	"PREFIX=(ov)@+ STATUSMSG=@+ TARGMAX=KICK:4,NOTICE:4,PRIVMSG:4 " \
	"TOPICLEN=390 USERLEN=10"
/* The IRCv3 features' tokens: NAMELEN is SETNAME's real name limit. */
#define IRC_ISUPPORT_IRCV3 "NAMELEN=50"
#define IRC_ISUPPORT_IRCV3_HISTORY \
	"CHATHISTORY=%d " \
	"MSGREFTYPES=msgid,timestamp NAMELEN=50"
/* The query commands' tokens, on a line of their own. */
#define IRC_ISUPPORT_QUERY "MONITOR=%d WHOX"

#endif
