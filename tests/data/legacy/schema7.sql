--
-- PostgreSQL database dump
--

\restrict OlastJAwMLculZ7eidBtlj1psl3Kc1MOv36VEzjtH3mpVhfBaUU73nIP9Vb5q7C

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: onemap; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA onemap;


--
-- Name: notify_registry(); Type: FUNCTION; Schema: onemap; Owner: -
--

CREATE FUNCTION onemap.notify_registry() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN PERFORM pg_notify('onemap_registry', NEW.value); RETURN NULL; END $$;


--
-- Name: czkfbj_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.czkfbj_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


SET default_tablespace = '';

--
-- Name: czkfbj; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.czkfbj (
    fid bigint DEFAULT nextval('onemap.czkfbj_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


SET default_table_access_method = heap;

--
-- Name: czkfbj__p2; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.czkfbj__p2 (
    fid bigint DEFAULT nextval('onemap.czkfbj_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: czkfbj__p3; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.czkfbj__p3 (
    fid bigint DEFAULT nextval('onemap.czkfbj_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: dltb_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.dltb_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: dltb; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.dltb (
    fid bigint DEFAULT nextval('onemap.dltb_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "TBBH" character varying(8),
    "DLBM" character varying(5),
    "DLMC" character varying(60),
    "ZLDWDM" character varying(19),
    "ZLDWMC" character varying(60),
    "CZCSXM" character varying(4),
    "GDPDJB" character varying(2),
    "TBMJ" double precision,
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: dltb__p1; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.dltb__p1 (
    fid bigint DEFAULT nextval('onemap.dltb_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "TBBH" character varying(8),
    "DLBM" character varying(5),
    "DLMC" character varying(60),
    "ZLDWDM" character varying(19),
    "ZLDWMC" character varying(60),
    "CZCSXM" character varying(4),
    "GDPDJB" character varying(2),
    "TBMJ" double precision,
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: ghfq_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.ghfq_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ghfq; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.ghfq (
    fid bigint DEFAULT nextval('onemap.ghfq_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: ghfq__p2; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.ghfq__p2 (
    fid bigint DEFAULT nextval('onemap.ghfq_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: ghfq__p3; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.ghfq__p3 (
    fid bigint DEFAULT nextval('onemap.ghfq_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "GHFQDM" character varying(3),
    "GHFQMC" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: hlfxkzx_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.hlfxkzx_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: hlfxkzx; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.hlfxkzx (
    fid bigint DEFAULT nextval('onemap.hlfxkzx_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "FXMC" character varying(100),
    "FXDJ" character varying(20),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: jobs; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.jobs (
    id text NOT NULL,
    process_id text NOT NULL,
    mode text NOT NULL,
    status text NOT NULL,
    message text,
    progress integer DEFAULT 0 NOT NULL,
    created double precision NOT NULL,
    started double precision,
    updated double precision NOT NULL,
    finished double precision,
    request text NOT NULL,
    mimetype text,
    result bytea,
    worker text,
    lease_until double precision,
    attempts integer DEFAULT 0 NOT NULL
);


--
-- Name: layer_extent; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.layer_extent (
    layer text NOT NULL,
    minx double precision,
    miny double precision,
    maxx double precision,
    maxy double precision
);


--
-- Name: lswhbhx_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.lswhbhx_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: lswhbhx; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.lswhbhx (
    fid bigint DEFAULT nextval('onemap.lswhbhx_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "BHMC" character varying(100),
    "BHLX" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: meta; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.meta (
    key text NOT NULL,
    value text
);


--
-- Name: plan_events; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.plan_events (
    id bigint NOT NULL,
    plan_id text NOT NULL,
    at timestamp with time zone NOT NULL,
    by text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    reason text
);


--
-- Name: plan_events_id_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

ALTER TABLE onemap.plan_events ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME onemap.plan_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: plan_indicators; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.plan_indicators (
    plan_id text NOT NULL,
    region text NOT NULL,
    code text NOT NULL,
    value double precision NOT NULL,
    unit text NOT NULL,
    kind text NOT NULL,
    name text
);


--
-- Name: plan_layers; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.plan_layers (
    plan_id text NOT NULL,
    layer text NOT NULL,
    features bigint NOT NULL,
    minx double precision,
    miny double precision,
    maxx double precision,
    maxy double precision
);


--
-- Name: plans; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.plans (
    fid bigint NOT NULL,
    id text NOT NULL,
    region text NOT NULL,
    level text NOT NULL,
    type text NOT NULL,
    version text NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    approval_no text,
    approval_date date,
    valid_from date,
    valid_to date,
    upper_plan_id text,
    submitted_by text,
    submitted_at timestamp with time zone,
    checksum text,
    geom public.geometry(MultiPolygon,4490)
);


--
-- Name: plans_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

ALTER TABLE onemap.plans ALTER COLUMN fid ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME onemap.plans_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: stbhhx_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.stbhhx_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: stbhhx; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.stbhhx (
    fid bigint DEFAULT nextval('onemap.stbhhx_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "HXBM" character varying(20),
    "HXMC" character varying(100),
    "HXLX" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: stbhhx__p2; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.stbhhx__p2 (
    fid bigint DEFAULT nextval('onemap.stbhhx_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "HXBM" character varying(20),
    "HXMC" character varying(100),
    "HXLX" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: stbhhx__p3; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.stbhhx__p3 (
    fid bigint DEFAULT nextval('onemap.stbhhx_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "HXBM" character varying(20),
    "HXMC" character varying(100),
    "HXLX" character varying(50),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: tile_invalidations; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.tile_invalidations (
    id bigint NOT NULL,
    layer text NOT NULL,
    minx double precision,
    miny double precision,
    maxx double precision,
    maxy double precision,
    effective double precision NOT NULL
);


--
-- Name: tile_invalidations_id_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

ALTER TABLE onemap.tile_invalidations ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME onemap.tile_invalidations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: xzq_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.xzq_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: xzq; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.xzq (
    fid bigint DEFAULT nextval('onemap.xzq_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "XZQJB" character varying(10),
    "XZQJBMC" character varying(20),
    "SJXZQDM" character varying(12),
    "MJ" double precision,
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: yjjbnt_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.yjjbnt_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: yjjbnt; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.yjjbnt (
    fid bigint DEFAULT nextval('onemap.yjjbnt_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "BHPKBH" character varying(20),
    "DLBM" character varying(5),
    "DLMC" character varying(60),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: yjjbnt__p2; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.yjjbnt__p2 (
    fid bigint DEFAULT nextval('onemap.yjjbnt_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "BHPKBH" character varying(20),
    "DLBM" character varying(5),
    "DLMC" character varying(60),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: yjjbnt__p3; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.yjjbnt__p3 (
    fid bigint DEFAULT nextval('onemap.yjjbnt_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "BHPKBH" character varying(20),
    "DLBM" character varying(5),
    "DLMC" character varying(60),
    "MJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: zxcqghydyh_fid_seq; Type: SEQUENCE; Schema: onemap; Owner: -
--

CREATE SEQUENCE onemap.zxcqghydyh_fid_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: zxcqghydyh; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.zxcqghydyh (
    fid bigint DEFAULT nextval('onemap.zxcqghydyh_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "YDYHFLDM" character varying(6),
    "YDYHFLMC" character varying(60),
    "YDYHBB" character varying(4),
    "TBMJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
)
PARTITION BY LIST (plan_id);


--
-- Name: zxcqghydyh__p2; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.zxcqghydyh__p2 (
    fid bigint DEFAULT nextval('onemap.zxcqghydyh_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "YDYHFLDM" character varying(6),
    "YDYHFLMC" character varying(60),
    "YDYHBB" character varying(4),
    "TBMJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: zxcqghydyh__p3; Type: TABLE; Schema: onemap; Owner: -
--

CREATE TABLE onemap.zxcqghydyh__p3 (
    fid bigint DEFAULT nextval('onemap.zxcqghydyh_fid_seq'::regclass) NOT NULL,
    "BSM" character varying(18),
    "YSDM" character varying(10),
    "XZQDM" character varying(12),
    "XZQMC" character varying(100),
    "YDYHFLDM" character varying(6),
    "YDYHFLMC" character varying(60),
    "YDYHBB" character varying(4),
    "TBMJ" double precision,
    "BZ" character varying(255),
    plan_id character varying(64) NOT NULL,
    plan_region character varying(12),
    plan_level character varying(10),
    plan_type character varying(10),
    plan_version character varying(32),
    geom public.geometry(MultiPolygon,4490) NOT NULL
);


--
-- Name: czkfbj__p2; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.czkfbj ATTACH PARTITION onemap.czkfbj__p2 FOR VALUES IN ('880100-city-master-2021');


--
-- Name: czkfbj__p3; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.czkfbj ATTACH PARTITION onemap.czkfbj__p3 FOR VALUES IN ('880100-city-master-2023');


--
-- Name: dltb__p1; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.dltb ATTACH PARTITION onemap.dltb__p1 FOR VALUES IN ('880000-province-survey-2022');


--
-- Name: ghfq__p2; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.ghfq ATTACH PARTITION onemap.ghfq__p2 FOR VALUES IN ('880100-city-master-2021');


--
-- Name: ghfq__p3; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.ghfq ATTACH PARTITION onemap.ghfq__p3 FOR VALUES IN ('880100-city-master-2023');


--
-- Name: stbhhx__p2; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.stbhhx ATTACH PARTITION onemap.stbhhx__p2 FOR VALUES IN ('880100-city-master-2021');


--
-- Name: stbhhx__p3; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.stbhhx ATTACH PARTITION onemap.stbhhx__p3 FOR VALUES IN ('880100-city-master-2023');


--
-- Name: yjjbnt__p2; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.yjjbnt ATTACH PARTITION onemap.yjjbnt__p2 FOR VALUES IN ('880100-city-master-2021');


--
-- Name: yjjbnt__p3; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.yjjbnt ATTACH PARTITION onemap.yjjbnt__p3 FOR VALUES IN ('880100-city-master-2023');


--
-- Name: zxcqghydyh__p2; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.zxcqghydyh ATTACH PARTITION onemap.zxcqghydyh__p2 FOR VALUES IN ('880100-city-master-2021');


--
-- Name: zxcqghydyh__p3; Type: TABLE ATTACH; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.zxcqghydyh ATTACH PARTITION onemap.zxcqghydyh__p3 FOR VALUES IN ('880100-city-master-2023');


--
-- Data for Name: czkfbj__p2; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.czkfbj__p2 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "GHFQDM", "GHFQMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	CZKFBJ20210000	\N	880100	测试市	211	城镇集中建设区	9488749	\N	880100-city-master-2021	880100	city	master	2021	01060000208A1100000100000001030000000100000005000000A4703D0AD7435D406666666666663F40A4703D0AD7435D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F40A4703D0AD7435D406666666666663F40
\.


--
-- Data for Name: czkfbj__p3; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.czkfbj__p3 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "GHFQDM", "GHFQMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
2	CZKFBJ20230000	\N	880100	测试市	211	城镇集中建设区	15814581.67	\N	880100-city-master-2023	880100	city	master	2023	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F4085EB51B81E455D406666666666663F40
\.


--
-- Data for Name: dltb__p1; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.dltb__p1 (fid, "BSM", "YSDM", "TBBH", "DLBM", "DLMC", "ZLDWDM", "ZLDWMC", "CZCSXM", "GDPDJB", "TBMJ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	DLTB20220000	\N	1	0101	水田	880100	测试市	\N	\N	15812928.24	880000-province-survey-2022	880000	province	survey	2022	01060000208A110000010000000103000000010000000500000052B81E85EB415D406666666666663F4052B81E85EB415D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4052B81E85EB415D406666666666663F40
2	DLTB20220001	\N	2	0601	工业用地	880100	测试市	\N	\N	26354880.4	880000-province-survey-2022	880000	province	survey	2022	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D403333333333733F4052B81E85EB415D403333333333733F4052B81E85EB415D406666666666663F4085EB51B81E455D406666666666663F40
\.


--
-- Data for Name: ghfq__p2; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.ghfq__p2 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "GHFQDM", "GHFQMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	GHFQ20210000	\N	880100	测试市	11	生态保护区	15812928.24	\N	880100-city-master-2021	880100	city	master	2021	01060000208A110000010000000103000000010000000500000052B81E85EB415D406666666666663F4052B81E85EB415D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4052B81E85EB415D406666666666663F40
2	GHFQ20210001	\N	880100	测试市	211	城镇集中建设区	9488749	\N	880100-city-master-2021	880100	city	master	2021	01060000208A1100000100000001030000000100000005000000A4703D0AD7435D406666666666663F40A4703D0AD7435D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F40A4703D0AD7435D406666666666663F40
\.


--
-- Data for Name: ghfq__p3; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.ghfq__p3 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "GHFQDM", "GHFQMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
3	GHFQ20230000	\N	880100	测试市	11	生态保护区	15812928.24	\N	880100-city-master-2023	880100	city	master	2023	01060000208A110000010000000103000000010000000500000052B81E85EB415D406666666666663F4052B81E85EB415D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4052B81E85EB415D406666666666663F40
4	GHFQ20230001	\N	880100	测试市	211	城镇集中建设区	15814581.67	\N	880100-city-master-2023	880100	city	master	2023	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F4085EB51B81E455D406666666666663F40
\.


--
-- Data for Name: jobs; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.jobs (id, process_id, mode, status, message, progress, created, started, updated, finished, request, mimetype, result, worker, lease_until, attempts) FROM stdin;
\.


--
-- Data for Name: layer_extent; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.layer_extent (layer, minx, miny, maxx, maxy) FROM stdin;
czkfbj	117.03	31.4	117.08	31.43
dltb	117	31.4	117.08	31.45
ghfq	117	31.4	117.08	31.45
stbhhx	117	31.4	117.02	31.42
yjjbnt	117	31.43	117.02	31.45
zxcqghydyh	117.03	31.4	117.08	31.43
\.


--
-- Data for Name: meta; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.meta (key, value) FROM stdin;
schema_version	7
registry_version	1
\.


--
-- Data for Name: plan_events; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.plan_events (id, plan_id, at, by, from_status, to_status, reason) FROM stdin;
\.


--
-- Data for Name: plan_indicators; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.plan_indicators (plan_id, region, code, value, unit, kind, name) FROM stdin;
\.


--
-- Data for Name: plan_layers; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.plan_layers (plan_id, layer, features, minx, miny, maxx, maxy) FROM stdin;
880000-province-survey-2022	dltb	2	117	31.4	117.08	31.45
880100-city-master-2021	stbhhx	1	117	31.4	117.02	31.42
880100-city-master-2021	yjjbnt	1	117	31.43	117.02	31.45
880100-city-master-2021	czkfbj	1	117.03	31.4	117.06	31.43
880100-city-master-2021	ghfq	2	117	31.4	117.06	31.45
880100-city-master-2021	zxcqghydyh	1	117.03	31.4	117.06	31.43
880100-city-master-2023	stbhhx	1	117	31.4	117.02	31.42
880100-city-master-2023	yjjbnt	1	117	31.43	117.02	31.45
880100-city-master-2023	czkfbj	1	117.03	31.4	117.08	31.43
880100-city-master-2023	ghfq	2	117	31.4	117.08	31.45
880100-city-master-2023	zxcqghydyh	2	117.03	31.4	117.08	31.43
\.


--
-- Data for Name: plans; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.plans (fid, id, region, level, type, version, title, status, approval_no, approval_date, valid_from, valid_to, upper_plan_id, submitted_by, submitted_at, checksum, geom) FROM stdin;
1	880000-province-survey-2022	880000	province	survey	2022	测试省2022年度国土变更调查	filed	\N	\N	2022-01-01	\N	\N	test	2021-12-31 16:00:00+00	\N	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4085EB51B81E455D406666666666663F40
2	880100-city-master-2021	880100	city	master	2021	测试市国土空间总体规划	superseded	测政函〔2021〕1号	2021-05-20	2021-06-01	2023-09-01	\N	test	2021-04-30 16:00:00+00	\N	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4085EB51B81E455D406666666666663F40
3	880100-city-master-2023	880100	city	master	2023	测试市国土空间总体规划（2023年修订）	filed	测政函〔2023〕9号	2023-08-15	2023-09-01	\N	\N	test	2023-07-31 16:00:00+00	\N	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D403333333333733F400000000000405D403333333333733F400000000000405D406666666666663F4085EB51B81E455D406666666666663F40
\.


--
-- Data for Name: stbhhx__p2; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.stbhhx__p2 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "HXBM", "HXMC", "HXLX", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	STBHHX20210000	\N	880100	测试市	RED1	测试生态保护红线	生态功能极重要区	4217442.17	\N	880100-city-master-2021	880100	city	master	2021	01060000208A1100000100000001030000000100000005000000E17A14AE47415D406666666666663F40E17A14AE47415D40EC51B81E856B3F400000000000405D40EC51B81E856B3F400000000000405D406666666666663F40E17A14AE47415D406666666666663F40
\.


--
-- Data for Name: stbhhx__p3; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.stbhhx__p3 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "HXBM", "HXMC", "HXLX", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
2	STBHHX20230000	\N	880100	测试市	RED1	测试生态保护红线	生态功能极重要区	4217442.17	\N	880100-city-master-2023	880100	city	master	2023	01060000208A1100000100000001030000000100000005000000E17A14AE47415D406666666666663F40E17A14AE47415D40EC51B81E856B3F400000000000405D40EC51B81E856B3F400000000000405D406666666666663F40E17A14AE47415D406666666666663F40
\.


--
-- Data for Name: tile_invalidations; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.tile_invalidations (id, layer, minx, miny, maxx, maxy, effective) FROM stdin;
\.


--
-- Data for Name: yjjbnt__p2; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.yjjbnt__p2 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "BHPKBH", "DLBM", "DLMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	YJJBNT20210000	\N	880100	测试市	BH01	0101	水田	4216119.49	\N	880100-city-master-2021	880100	city	master	2021	01060000208A1100000100000001030000000100000005000000E17A14AE47415D40AE47E17A146E3F40E17A14AE47415D403333333333733F400000000000405D403333333333733F400000000000405D40AE47E17A146E3F40E17A14AE47415D40AE47E17A146E3F40
\.


--
-- Data for Name: yjjbnt__p3; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.yjjbnt__p3 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "BHPKBH", "DLBM", "DLMC", "MJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
2	YJJBNT20230000	\N	880100	测试市	BH01	0101	水田	4216119.49	\N	880100-city-master-2023	880100	city	master	2023	01060000208A1100000100000001030000000100000005000000E17A14AE47415D40AE47E17A146E3F40E17A14AE47415D403333333333733F400000000000405D403333333333733F400000000000405D40AE47E17A146E3F40E17A14AE47415D40AE47E17A146E3F40
\.


--
-- Data for Name: zxcqghydyh__p2; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.zxcqghydyh__p2 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "YDYHFLDM", "YDYHFLMC", "YDYHBB", "TBMJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
1	ZXCQGHYDYH20210000	\N	880100	测试市	1001	工业用地	2023	9488749	\N	880100-city-master-2021	880100	city	master	2021	01060000208A1100000100000001030000000100000005000000A4703D0AD7435D406666666666663F40A4703D0AD7435D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F40A4703D0AD7435D406666666666663F40
\.


--
-- Data for Name: zxcqghydyh__p3; Type: TABLE DATA; Schema: onemap; Owner: -
--

COPY onemap.zxcqghydyh__p3 (fid, "BSM", "YSDM", "XZQDM", "XZQMC", "YDYHFLDM", "YDYHFLMC", "YDYHBB", "TBMJ", "BZ", plan_id, plan_region, plan_level, plan_type, plan_version, geom) FROM stdin;
2	ZXCQGHYDYH20230000	\N	880100	测试市	1001	工业用地	2023	14233123.5	\N	880100-city-master-2023	880100	city	master	2023	01060000208A1100000100000001030000000100000005000000CDCCCCCCCC445D406666666666663F40CDCCCCCCCC445D40AE47E17A146E3F4052B81E85EB415D40AE47E17A146E3F4052B81E85EB415D406666666666663F40CDCCCCCCCC445D406666666666663F40
3	ZXCQGHYDYH20230001	\N	880100	测试市	0701	城镇住宅用地	2023	1581458.17	\N	880100-city-master-2023	880100	city	master	2023	01060000208A110000010000000103000000010000000500000085EB51B81E455D406666666666663F4085EB51B81E455D40AE47E17A146E3F40CDCCCCCCCC445D40AE47E17A146E3F40CDCCCCCCCC445D406666666666663F4085EB51B81E455D406666666666663F40
\.


--
-- Name: czkfbj_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.czkfbj_fid_seq', 2, true);


--
-- Name: dltb_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.dltb_fid_seq', 2, true);


--
-- Name: ghfq_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.ghfq_fid_seq', 4, true);


--
-- Name: hlfxkzx_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.hlfxkzx_fid_seq', 1, false);


--
-- Name: lswhbhx_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.lswhbhx_fid_seq', 1, false);


--
-- Name: plan_events_id_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.plan_events_id_seq', 1, false);


--
-- Name: plans_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.plans_fid_seq', 3, true);


--
-- Name: stbhhx_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.stbhhx_fid_seq', 2, true);


--
-- Name: tile_invalidations_id_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.tile_invalidations_id_seq', 1, false);


--
-- Name: xzq_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.xzq_fid_seq', 1, false);


--
-- Name: yjjbnt_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.yjjbnt_fid_seq', 2, true);


--
-- Name: zxcqghydyh_fid_seq; Type: SEQUENCE SET; Schema: onemap; Owner: -
--

SELECT pg_catalog.setval('onemap.zxcqghydyh_fid_seq', 3, true);


--
-- Name: czkfbj czkfbj_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.czkfbj
    ADD CONSTRAINT czkfbj_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: czkfbj__p2 czkfbj__p2_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.czkfbj__p2
    ADD CONSTRAINT czkfbj__p2_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: czkfbj__p3 czkfbj__p3_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.czkfbj__p3
    ADD CONSTRAINT czkfbj__p3_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: dltb dltb_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.dltb
    ADD CONSTRAINT dltb_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: dltb__p1 dltb__p1_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.dltb__p1
    ADD CONSTRAINT dltb__p1_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: ghfq ghfq_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.ghfq
    ADD CONSTRAINT ghfq_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: ghfq__p2 ghfq__p2_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.ghfq__p2
    ADD CONSTRAINT ghfq__p2_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: ghfq__p3 ghfq__p3_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.ghfq__p3
    ADD CONSTRAINT ghfq__p3_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: hlfxkzx hlfxkzx_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.hlfxkzx
    ADD CONSTRAINT hlfxkzx_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);


--
-- Name: layer_extent layer_extent_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.layer_extent
    ADD CONSTRAINT layer_extent_pkey PRIMARY KEY (layer);


--
-- Name: lswhbhx lswhbhx_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.lswhbhx
    ADD CONSTRAINT lswhbhx_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: plan_events plan_events_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.plan_events
    ADD CONSTRAINT plan_events_pkey PRIMARY KEY (id);


--
-- Name: plan_indicators plan_indicators_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.plan_indicators
    ADD CONSTRAINT plan_indicators_pkey PRIMARY KEY (plan_id, region, code);


--
-- Name: plan_layers plan_layers_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.plan_layers
    ADD CONSTRAINT plan_layers_pkey PRIMARY KEY (plan_id, layer);


--
-- Name: plans plans_id_key; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.plans
    ADD CONSTRAINT plans_id_key UNIQUE (id);


--
-- Name: plans plans_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.plans
    ADD CONSTRAINT plans_pkey PRIMARY KEY (fid);


--
-- Name: stbhhx stbhhx_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.stbhhx
    ADD CONSTRAINT stbhhx_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: stbhhx__p2 stbhhx__p2_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.stbhhx__p2
    ADD CONSTRAINT stbhhx__p2_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: stbhhx__p3 stbhhx__p3_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.stbhhx__p3
    ADD CONSTRAINT stbhhx__p3_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: tile_invalidations tile_invalidations_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.tile_invalidations
    ADD CONSTRAINT tile_invalidations_pkey PRIMARY KEY (id);


--
-- Name: xzq xzq_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.xzq
    ADD CONSTRAINT xzq_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: yjjbnt yjjbnt_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.yjjbnt
    ADD CONSTRAINT yjjbnt_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: yjjbnt__p2 yjjbnt__p2_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.yjjbnt__p2
    ADD CONSTRAINT yjjbnt__p2_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: yjjbnt__p3 yjjbnt__p3_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.yjjbnt__p3
    ADD CONSTRAINT yjjbnt__p3_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: zxcqghydyh zxcqghydyh_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.zxcqghydyh
    ADD CONSTRAINT zxcqghydyh_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: zxcqghydyh__p2 zxcqghydyh__p2_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.zxcqghydyh__p2
    ADD CONSTRAINT zxcqghydyh__p2_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: zxcqghydyh__p3 zxcqghydyh__p3_pkey; Type: CONSTRAINT; Schema: onemap; Owner: -
--

ALTER TABLE ONLY onemap.zxcqghydyh__p3
    ADD CONSTRAINT zxcqghydyh__p3_pkey PRIMARY KEY (plan_id, fid);


--
-- Name: czkfbj_GHFQDM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "czkfbj_GHFQDM_fid" ON ONLY onemap.czkfbj USING btree ("GHFQDM", fid);


--
-- Name: czkfbj__p2_GHFQDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "czkfbj__p2_GHFQDM_fid_idx" ON onemap.czkfbj__p2 USING btree ("GHFQDM", fid);


--
-- Name: czkfbj_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj_fid ON ONLY onemap.czkfbj USING btree (fid);


--
-- Name: czkfbj__p2_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p2_fid_idx ON onemap.czkfbj__p2 USING btree (fid);


--
-- Name: czkfbj_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj_geom_gist ON ONLY onemap.czkfbj USING gist (geom);


--
-- Name: czkfbj__p2_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p2_geom_idx ON onemap.czkfbj__p2 USING gist (geom);


--
-- Name: czkfbj_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj_size ON ONLY onemap.czkfbj USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: czkfbj__p2_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p2_greatest_idx ON onemap.czkfbj__p2 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: czkfbj__p3_GHFQDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "czkfbj__p3_GHFQDM_fid_idx" ON onemap.czkfbj__p3 USING btree ("GHFQDM", fid);


--
-- Name: czkfbj__p3_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p3_fid_idx ON onemap.czkfbj__p3 USING btree (fid);


--
-- Name: czkfbj__p3_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p3_geom_idx ON onemap.czkfbj__p3 USING gist (geom);


--
-- Name: czkfbj__p3_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX czkfbj__p3_greatest_idx ON onemap.czkfbj__p3 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: dltb_CZCSXM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "dltb_CZCSXM_fid" ON ONLY onemap.dltb USING btree ("CZCSXM", fid);


--
-- Name: dltb_DLBM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "dltb_DLBM_fid" ON ONLY onemap.dltb USING btree ("DLBM", fid);


--
-- Name: dltb__p1_CZCSXM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "dltb__p1_CZCSXM_fid_idx" ON onemap.dltb__p1 USING btree ("CZCSXM", fid);


--
-- Name: dltb__p1_DLBM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "dltb__p1_DLBM_fid_idx" ON onemap.dltb__p1 USING btree ("DLBM", fid);


--
-- Name: dltb_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb_fid ON ONLY onemap.dltb USING btree (fid);


--
-- Name: dltb__p1_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb__p1_fid_idx ON onemap.dltb__p1 USING btree (fid);


--
-- Name: dltb_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb_geom_gist ON ONLY onemap.dltb USING gist (geom);


--
-- Name: dltb__p1_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb__p1_geom_idx ON onemap.dltb__p1 USING gist (geom);


--
-- Name: dltb_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb_size ON ONLY onemap.dltb USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: dltb__p1_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX dltb__p1_greatest_idx ON onemap.dltb__p1 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: ghfq_GHFQDM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "ghfq_GHFQDM_fid" ON ONLY onemap.ghfq USING btree ("GHFQDM", fid);


--
-- Name: ghfq__p2_GHFQDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "ghfq__p2_GHFQDM_fid_idx" ON onemap.ghfq__p2 USING btree ("GHFQDM", fid);


--
-- Name: ghfq_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq_fid ON ONLY onemap.ghfq USING btree (fid);


--
-- Name: ghfq__p2_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p2_fid_idx ON onemap.ghfq__p2 USING btree (fid);


--
-- Name: ghfq_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq_geom_gist ON ONLY onemap.ghfq USING gist (geom);


--
-- Name: ghfq__p2_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p2_geom_idx ON onemap.ghfq__p2 USING gist (geom);


--
-- Name: ghfq_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq_size ON ONLY onemap.ghfq USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: ghfq__p2_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p2_greatest_idx ON onemap.ghfq__p2 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: ghfq__p3_GHFQDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "ghfq__p3_GHFQDM_fid_idx" ON onemap.ghfq__p3 USING btree ("GHFQDM", fid);


--
-- Name: ghfq__p3_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p3_fid_idx ON onemap.ghfq__p3 USING btree (fid);


--
-- Name: ghfq__p3_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p3_geom_idx ON onemap.ghfq__p3 USING gist (geom);


--
-- Name: ghfq__p3_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX ghfq__p3_greatest_idx ON onemap.ghfq__p3 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: hlfxkzx_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX hlfxkzx_fid ON ONLY onemap.hlfxkzx USING btree (fid);


--
-- Name: hlfxkzx_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX hlfxkzx_geom_gist ON ONLY onemap.hlfxkzx USING gist (geom);


--
-- Name: hlfxkzx_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX hlfxkzx_size ON ONLY onemap.hlfxkzx USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: jobs_status; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX jobs_status ON onemap.jobs USING btree (status, created);


--
-- Name: lswhbhx_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX lswhbhx_fid ON ONLY onemap.lswhbhx USING btree (fid);


--
-- Name: lswhbhx_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX lswhbhx_geom_gist ON ONLY onemap.lswhbhx USING gist (geom);


--
-- Name: lswhbhx_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX lswhbhx_size ON ONLY onemap.lswhbhx USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: plan_events_plan; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX plan_events_plan ON onemap.plan_events USING btree (plan_id);


--
-- Name: plans_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX plans_geom_gist ON onemap.plans USING gist (geom);


--
-- Name: stbhhx_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx_fid ON ONLY onemap.stbhhx USING btree (fid);


--
-- Name: stbhhx__p2_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p2_fid_idx ON onemap.stbhhx__p2 USING btree (fid);


--
-- Name: stbhhx_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx_geom_gist ON ONLY onemap.stbhhx USING gist (geom);


--
-- Name: stbhhx__p2_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p2_geom_idx ON onemap.stbhhx__p2 USING gist (geom);


--
-- Name: stbhhx_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx_size ON ONLY onemap.stbhhx USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: stbhhx__p2_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p2_greatest_idx ON onemap.stbhhx__p2 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: stbhhx__p3_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p3_fid_idx ON onemap.stbhhx__p3 USING btree (fid);


--
-- Name: stbhhx__p3_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p3_geom_idx ON onemap.stbhhx__p3 USING gist (geom);


--
-- Name: stbhhx__p3_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX stbhhx__p3_greatest_idx ON onemap.stbhhx__p3 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: xzq_XZQJB_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "xzq_XZQJB_fid" ON ONLY onemap.xzq USING btree ("XZQJB", fid);


--
-- Name: xzq_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX xzq_fid ON ONLY onemap.xzq USING btree (fid);


--
-- Name: xzq_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX xzq_geom_gist ON ONLY onemap.xzq USING gist (geom);


--
-- Name: xzq_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX xzq_size ON ONLY onemap.xzq USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: yjjbnt_DLBM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "yjjbnt_DLBM_fid" ON ONLY onemap.yjjbnt USING btree ("DLBM", fid);


--
-- Name: yjjbnt__p2_DLBM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "yjjbnt__p2_DLBM_fid_idx" ON onemap.yjjbnt__p2 USING btree ("DLBM", fid);


--
-- Name: yjjbnt_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt_fid ON ONLY onemap.yjjbnt USING btree (fid);


--
-- Name: yjjbnt__p2_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p2_fid_idx ON onemap.yjjbnt__p2 USING btree (fid);


--
-- Name: yjjbnt_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt_geom_gist ON ONLY onemap.yjjbnt USING gist (geom);


--
-- Name: yjjbnt__p2_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p2_geom_idx ON onemap.yjjbnt__p2 USING gist (geom);


--
-- Name: yjjbnt_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt_size ON ONLY onemap.yjjbnt USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: yjjbnt__p2_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p2_greatest_idx ON onemap.yjjbnt__p2 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: yjjbnt__p3_DLBM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "yjjbnt__p3_DLBM_fid_idx" ON onemap.yjjbnt__p3 USING btree ("DLBM", fid);


--
-- Name: yjjbnt__p3_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p3_fid_idx ON onemap.yjjbnt__p3 USING btree (fid);


--
-- Name: yjjbnt__p3_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p3_geom_idx ON onemap.yjjbnt__p3 USING gist (geom);


--
-- Name: yjjbnt__p3_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX yjjbnt__p3_greatest_idx ON onemap.yjjbnt__p3 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: zxcqghydyh_YDYHBB_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh_YDYHBB_fid" ON ONLY onemap.zxcqghydyh USING btree ("YDYHBB", fid);


--
-- Name: zxcqghydyh_YDYHFLDM_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh_YDYHFLDM_fid" ON ONLY onemap.zxcqghydyh USING btree ("YDYHFLDM", fid);


--
-- Name: zxcqghydyh__p2_YDYHBB_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh__p2_YDYHBB_fid_idx" ON onemap.zxcqghydyh__p2 USING btree ("YDYHBB", fid);


--
-- Name: zxcqghydyh__p2_YDYHFLDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh__p2_YDYHFLDM_fid_idx" ON onemap.zxcqghydyh__p2 USING btree ("YDYHFLDM", fid);


--
-- Name: zxcqghydyh_fid; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh_fid ON ONLY onemap.zxcqghydyh USING btree (fid);


--
-- Name: zxcqghydyh__p2_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p2_fid_idx ON onemap.zxcqghydyh__p2 USING btree (fid);


--
-- Name: zxcqghydyh_geom_gist; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh_geom_gist ON ONLY onemap.zxcqghydyh USING gist (geom);


--
-- Name: zxcqghydyh__p2_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p2_geom_idx ON onemap.zxcqghydyh__p2 USING gist (geom);


--
-- Name: zxcqghydyh_size; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh_size ON ONLY onemap.zxcqghydyh USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: zxcqghydyh__p2_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p2_greatest_idx ON onemap.zxcqghydyh__p2 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: zxcqghydyh__p3_YDYHBB_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh__p3_YDYHBB_fid_idx" ON onemap.zxcqghydyh__p3 USING btree ("YDYHBB", fid);


--
-- Name: zxcqghydyh__p3_YDYHFLDM_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX "zxcqghydyh__p3_YDYHFLDM_fid_idx" ON onemap.zxcqghydyh__p3 USING btree ("YDYHFLDM", fid);


--
-- Name: zxcqghydyh__p3_fid_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p3_fid_idx ON onemap.zxcqghydyh__p3 USING btree (fid);


--
-- Name: zxcqghydyh__p3_geom_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p3_geom_idx ON onemap.zxcqghydyh__p3 USING gist (geom);


--
-- Name: zxcqghydyh__p3_greatest_idx; Type: INDEX; Schema: onemap; Owner: -
--

CREATE INDEX zxcqghydyh__p3_greatest_idx ON onemap.zxcqghydyh__p3 USING btree (GREATEST((public.st_xmax((geom)::public.box3d) - public.st_xmin((geom)::public.box3d)), (public.st_ymax((geom)::public.box3d) - public.st_ymin((geom)::public.box3d))));


--
-- Name: czkfbj__p2_GHFQDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."czkfbj_GHFQDM_fid" ATTACH PARTITION onemap."czkfbj__p2_GHFQDM_fid_idx";


--
-- Name: czkfbj__p2_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_fid ATTACH PARTITION onemap.czkfbj__p2_fid_idx;


--
-- Name: czkfbj__p2_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_geom_gist ATTACH PARTITION onemap.czkfbj__p2_geom_idx;


--
-- Name: czkfbj__p2_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_size ATTACH PARTITION onemap.czkfbj__p2_greatest_idx;


--
-- Name: czkfbj__p2_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_pkey ATTACH PARTITION onemap.czkfbj__p2_pkey;


--
-- Name: czkfbj__p3_GHFQDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."czkfbj_GHFQDM_fid" ATTACH PARTITION onemap."czkfbj__p3_GHFQDM_fid_idx";


--
-- Name: czkfbj__p3_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_fid ATTACH PARTITION onemap.czkfbj__p3_fid_idx;


--
-- Name: czkfbj__p3_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_geom_gist ATTACH PARTITION onemap.czkfbj__p3_geom_idx;


--
-- Name: czkfbj__p3_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_size ATTACH PARTITION onemap.czkfbj__p3_greatest_idx;


--
-- Name: czkfbj__p3_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.czkfbj_pkey ATTACH PARTITION onemap.czkfbj__p3_pkey;


--
-- Name: dltb__p1_CZCSXM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."dltb_CZCSXM_fid" ATTACH PARTITION onemap."dltb__p1_CZCSXM_fid_idx";


--
-- Name: dltb__p1_DLBM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."dltb_DLBM_fid" ATTACH PARTITION onemap."dltb__p1_DLBM_fid_idx";


--
-- Name: dltb__p1_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.dltb_fid ATTACH PARTITION onemap.dltb__p1_fid_idx;


--
-- Name: dltb__p1_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.dltb_geom_gist ATTACH PARTITION onemap.dltb__p1_geom_idx;


--
-- Name: dltb__p1_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.dltb_size ATTACH PARTITION onemap.dltb__p1_greatest_idx;


--
-- Name: dltb__p1_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.dltb_pkey ATTACH PARTITION onemap.dltb__p1_pkey;


--
-- Name: ghfq__p2_GHFQDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."ghfq_GHFQDM_fid" ATTACH PARTITION onemap."ghfq__p2_GHFQDM_fid_idx";


--
-- Name: ghfq__p2_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_fid ATTACH PARTITION onemap.ghfq__p2_fid_idx;


--
-- Name: ghfq__p2_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_geom_gist ATTACH PARTITION onemap.ghfq__p2_geom_idx;


--
-- Name: ghfq__p2_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_size ATTACH PARTITION onemap.ghfq__p2_greatest_idx;


--
-- Name: ghfq__p2_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_pkey ATTACH PARTITION onemap.ghfq__p2_pkey;


--
-- Name: ghfq__p3_GHFQDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."ghfq_GHFQDM_fid" ATTACH PARTITION onemap."ghfq__p3_GHFQDM_fid_idx";


--
-- Name: ghfq__p3_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_fid ATTACH PARTITION onemap.ghfq__p3_fid_idx;


--
-- Name: ghfq__p3_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_geom_gist ATTACH PARTITION onemap.ghfq__p3_geom_idx;


--
-- Name: ghfq__p3_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_size ATTACH PARTITION onemap.ghfq__p3_greatest_idx;


--
-- Name: ghfq__p3_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.ghfq_pkey ATTACH PARTITION onemap.ghfq__p3_pkey;


--
-- Name: stbhhx__p2_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_fid ATTACH PARTITION onemap.stbhhx__p2_fid_idx;


--
-- Name: stbhhx__p2_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_geom_gist ATTACH PARTITION onemap.stbhhx__p2_geom_idx;


--
-- Name: stbhhx__p2_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_size ATTACH PARTITION onemap.stbhhx__p2_greatest_idx;


--
-- Name: stbhhx__p2_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_pkey ATTACH PARTITION onemap.stbhhx__p2_pkey;


--
-- Name: stbhhx__p3_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_fid ATTACH PARTITION onemap.stbhhx__p3_fid_idx;


--
-- Name: stbhhx__p3_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_geom_gist ATTACH PARTITION onemap.stbhhx__p3_geom_idx;


--
-- Name: stbhhx__p3_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_size ATTACH PARTITION onemap.stbhhx__p3_greatest_idx;


--
-- Name: stbhhx__p3_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.stbhhx_pkey ATTACH PARTITION onemap.stbhhx__p3_pkey;


--
-- Name: yjjbnt__p2_DLBM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."yjjbnt_DLBM_fid" ATTACH PARTITION onemap."yjjbnt__p2_DLBM_fid_idx";


--
-- Name: yjjbnt__p2_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_fid ATTACH PARTITION onemap.yjjbnt__p2_fid_idx;


--
-- Name: yjjbnt__p2_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_geom_gist ATTACH PARTITION onemap.yjjbnt__p2_geom_idx;


--
-- Name: yjjbnt__p2_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_size ATTACH PARTITION onemap.yjjbnt__p2_greatest_idx;


--
-- Name: yjjbnt__p2_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_pkey ATTACH PARTITION onemap.yjjbnt__p2_pkey;


--
-- Name: yjjbnt__p3_DLBM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."yjjbnt_DLBM_fid" ATTACH PARTITION onemap."yjjbnt__p3_DLBM_fid_idx";


--
-- Name: yjjbnt__p3_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_fid ATTACH PARTITION onemap.yjjbnt__p3_fid_idx;


--
-- Name: yjjbnt__p3_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_geom_gist ATTACH PARTITION onemap.yjjbnt__p3_geom_idx;


--
-- Name: yjjbnt__p3_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_size ATTACH PARTITION onemap.yjjbnt__p3_greatest_idx;


--
-- Name: yjjbnt__p3_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.yjjbnt_pkey ATTACH PARTITION onemap.yjjbnt__p3_pkey;


--
-- Name: zxcqghydyh__p2_YDYHBB_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."zxcqghydyh_YDYHBB_fid" ATTACH PARTITION onemap."zxcqghydyh__p2_YDYHBB_fid_idx";


--
-- Name: zxcqghydyh__p2_YDYHFLDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."zxcqghydyh_YDYHFLDM_fid" ATTACH PARTITION onemap."zxcqghydyh__p2_YDYHFLDM_fid_idx";


--
-- Name: zxcqghydyh__p2_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_fid ATTACH PARTITION onemap.zxcqghydyh__p2_fid_idx;


--
-- Name: zxcqghydyh__p2_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_geom_gist ATTACH PARTITION onemap.zxcqghydyh__p2_geom_idx;


--
-- Name: zxcqghydyh__p2_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_size ATTACH PARTITION onemap.zxcqghydyh__p2_greatest_idx;


--
-- Name: zxcqghydyh__p2_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_pkey ATTACH PARTITION onemap.zxcqghydyh__p2_pkey;


--
-- Name: zxcqghydyh__p3_YDYHBB_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."zxcqghydyh_YDYHBB_fid" ATTACH PARTITION onemap."zxcqghydyh__p3_YDYHBB_fid_idx";


--
-- Name: zxcqghydyh__p3_YDYHFLDM_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap."zxcqghydyh_YDYHFLDM_fid" ATTACH PARTITION onemap."zxcqghydyh__p3_YDYHFLDM_fid_idx";


--
-- Name: zxcqghydyh__p3_fid_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_fid ATTACH PARTITION onemap.zxcqghydyh__p3_fid_idx;


--
-- Name: zxcqghydyh__p3_geom_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_geom_gist ATTACH PARTITION onemap.zxcqghydyh__p3_geom_idx;


--
-- Name: zxcqghydyh__p3_greatest_idx; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_size ATTACH PARTITION onemap.zxcqghydyh__p3_greatest_idx;


--
-- Name: zxcqghydyh__p3_pkey; Type: INDEX ATTACH; Schema: onemap; Owner: -
--

ALTER INDEX onemap.zxcqghydyh_pkey ATTACH PARTITION onemap.zxcqghydyh__p3_pkey;


--
-- Name: meta registry_notify; Type: TRIGGER; Schema: onemap; Owner: -
--

CREATE TRIGGER registry_notify AFTER INSERT OR UPDATE ON onemap.meta FOR EACH ROW WHEN ((new.key = 'registry_version'::text)) EXECUTE FUNCTION onemap.notify_registry();


--
-- PostgreSQL database dump complete
--

\unrestrict OlastJAwMLculZ7eidBtlj1psl3Kc1MOv36VEzjtH3mpVhfBaUU73nIP9Vb5q7C

